package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rackha/failover/bmc/ipmibmc"
	"github.com/rackha/failover/bmc/redfishbmc"
	"github.com/rackha/failover/hypervisor/libvirthv"
	"github.com/rackha/failover/hypervisor/vspherehv"
	"github.com/rackha/failover/watchdog"
)

// secretFunc reads the secret a section names (path is the section, for
// messages; file and env are its password_file and password_env).
type secretFunc func(path, file, env string) (string, error)

// bmcSpec is a server's BMC as a role builds it.
type bmcSpec struct {
	Kind    string // ipmi, redfish, sim
	IPMI    ipmibmc.Config
	Redfish redfishbmc.Config
}

// hypervisorSpec is a server's hypervisor as a role builds it.
type hypervisorSpec struct {
	Kind    string // libvirt, vsphere, sim; "" when peers cannot reach it
	Libvirt libvirthv.Config
	VSphere vspherehv.Config
	CAFile  string // vCenter's CA bundle, read when the role starts
}

// watchdogSpec is the watchdog a monitor kicks.
type watchdogSpec struct {
	Kind       string // ipmi-inband, ipmi-lan, sim, none
	IPMI       ipmibmc.Config
	Updater    watchdog.UpdaterConfig
	StallAfter time.Duration
}

// libField finds "Config.Field" in a library error; bareField a message
// that starts with the field ("URI is empty").
var (
	libField  = regexp.MustCompile(`Config\.([A-Za-z0-9]+)`)
	bareField = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*)[ :\[]`)
)

// fieldOf maps the library field an error names to the YAML key of
// section, by keys; unknown fields place the error on the section.
func fieldOf(section string, err error, keys map[string]string) string {
	msg := err.Error()
	m := libField.FindStringSubmatch(msg)
	if m == nil {
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			m = bareField.FindStringSubmatch(msg[i+2:] + " ")
		}
	}
	if m != nil {
		if k, ok := keys[m[1]]; ok {
			return section + "." + k
		}
	}
	return section
}

func (c *Config) bmcSpec(i int, secret secretFunc) (bmcSpec, error) {
	s := &c.Servers[i]
	p := fmt.Sprintf("servers[%d].bmc", i)
	b := s.BMC
	var timeout time.Duration
	v := &checker{file: c.File, root: c.pos.root}
	v.duration(p+".timeout", b.Timeout, &timeout)
	if v.err != nil {
		return bmcSpec{}, v.err
	}
	switch b.Kind {
	case "ipmi":
		host, port, err := splitHostPortDefault(b.Address, 623)
		if err != nil {
			return bmcSpec{}, c.errAt(p+".address", fmt.Sprintf("%q: want host or host:port", b.Address), nil)
		}
		pw, err := secret(p, b.PasswordFile, b.PasswordEnv)
		if err != nil {
			return bmcSpec{}, err
		}
		cfg := ipmibmc.DefaultConfig(host, b.User, pw)
		cfg.Port = port
		if b.CipherSuite != nil {
			cfg.CipherSuite = *b.CipherSuite
		}
		if timeout > 0 {
			cfg.Timeout = timeout
		}
		cfg.WatchdogPretimeout = b.WatchdogPretimeout
		if err := cfg.Validate(); err != nil {
			return bmcSpec{}, c.errAt(fieldOf(p, err, map[string]string{"Host": "address", "Port": "address", "Username": "user",
				"Password": "password_file", "CipherSuite": "cipher_suite", "Timeout": "timeout"}), "refused", err)
		}
		return bmcSpec{Kind: "ipmi", IPMI: cfg}, nil
	case "redfish":
		pw := ""
		if b.PasswordFile != "" || b.PasswordEnv != "" {
			var err error
			if pw, err = secret(p, b.PasswordFile, b.PasswordEnv); err != nil {
				return bmcSpec{}, err
			}
		}
		cfg := redfishbmc.DefaultConfig()
		cfg.Endpoint, cfg.Username, cfg.Password, cfg.CAFile, cfg.System = b.URL, b.User, pw, b.CAFile, b.System
		if timeout > 0 {
			cfg.RequestTimeout = timeout
		}
		if err := cfg.Validate(); err != nil {
			return bmcSpec{}, c.errAt(fieldOf(p, err, map[string]string{"Endpoint": "url", "Username": "user", "Password": "password_file",
				"CAFile": "ca_file", "RequestTimeout": "timeout", "BasicAuth": "user"}), "refused", err)
		}
		return bmcSpec{Kind: "redfish", Redfish: cfg}, nil
	case "sim":
		if c.Demo.Socket == "" {
			return bmcSpec{}, c.errAt(p+".kind", "sim is for `failoverd demo` only (demo.socket is not set)", nil)
		}
		return bmcSpec{Kind: "sim"}, nil
	}
	return bmcSpec{}, c.errAt(p+".kind", fmt.Sprintf("%q: want ipmi, redfish or sim", b.Kind), nil)
}

// hypervisorSpec builds server i's hypervisor: its own (remote false, on
// the server itself) or as its peers reach it (remote true: Kind is ""
// when they cannot).
func (c *Config) hypervisorSpec(i int, remote bool, secret secretFunc) (hypervisorSpec, error) {
	h := c.Servers[i].Hypervisor
	p := fmt.Sprintf("servers[%d].hypervisor", i)
	switch h.Kind {
	case "libvirt":
		uri, field := h.URI, "uri"
		if remote {
			if h.RemoteURI == "" {
				return hypervisorSpec{}, nil
			}
			uri, field = h.RemoteURI, "remote_uri"
		}
		cfg := libvirthv.DefaultConfig(uri)
		cfg.CheckpointDir = h.CheckpointDir
		if len(h.ImageDirs) > 0 {
			cfg.Domain.ImageRoots = h.ImageDirs
		}
		if err := cfg.Validate(); err != nil {
			return hypervisorSpec{}, c.errAt(fieldOf(p, err, map[string]string{"URI": field, "Domain": "image_dirs"}), "refused", err)
		}
		if _, err := url.Parse(uri); err != nil || !strings.Contains(uri, ":") {
			return hypervisorSpec{}, c.errAt(p+"."+field, fmt.Sprintf("%q is not a libvirt URI (qemu:///system)", uri), nil)
		}
		return hypervisorSpec{Kind: "libvirt", Libvirt: cfg}, nil
	case "vsphere":
		pw, err := secret(p, h.PasswordFile, h.PasswordEnv)
		if err != nil {
			return hypervisorSpec{}, err
		}
		cfg := vspherehv.DefaultConfig(h.URL, h.Host)
		cfg.Username, cfg.Password, cfg.Datacenter, cfg.Thumbprint = h.User, pw, h.Datacenter, h.Thumbprint
		cfg.Datastores, cfg.Server = h.Datastores, c.Servers[i].Name
		if err := cfg.Validate(); err != nil {
			return hypervisorSpec{}, c.errAt(fieldOf(p, err, map[string]string{"URL": "url", "Username": "user", "Password": "password_file",
				"Host": "host", "Datacenter": "datacenter", "Thumbprint": "thumbprint", "Datastores": "datastores"}), "refused", err)
		}
		return hypervisorSpec{Kind: "vsphere", VSphere: cfg, CAFile: h.CAFile}, nil
	case "sim":
		if c.Demo.Socket == "" {
			return hypervisorSpec{}, c.errAt(p+".kind", "sim is for `failoverd demo` only (demo.socket is not set)", nil)
		}
		return hypervisorSpec{Kind: "sim"}, nil
	}
	return hypervisorSpec{}, c.errAt(p+".kind", fmt.Sprintf("%q: want libvirt, vsphere or sim", h.Kind), nil)
}

func (c *Config) watchdogSpec(i int, secret secretFunc) (watchdogSpec, error) {
	w := c.Servers[i].Watchdog
	p := fmt.Sprintf("servers[%d].watchdog", i)
	u := watchdog.DefaultUpdaterConfig()
	v := &checker{file: c.File, root: c.pos.root}
	var timeout, interval, stall time.Duration
	v.duration(p+".timeout", w.Timeout, &timeout)
	v.duration(p+".interval", w.Interval, &interval)
	v.duration(p+".stall_after", w.StallAfter, &stall)
	if v.err != nil {
		return watchdogSpec{}, v.err
	}
	if timeout > 0 {
		u.Timeout = timeout
		u.Interval = timeout / 3
		u.CallTimeout = u.Interval / 2
	}
	if interval > 0 {
		u.Interval = interval
		u.CallTimeout = interval / 2
	}
	switch w.Action {
	case "", "power-down":
		u.Action = watchdog.ActionPowerDown
	case "power-cycle":
		u.Action = watchdog.ActionPowerCycle
	case "hard-reset":
		u.Action = watchdog.ActionHardReset
	default:
		return watchdogSpec{}, c.errAt(p+".action", fmt.Sprintf("%q: want power-down, power-cycle or hard-reset", w.Action), nil)
	}
	if err := u.Validate(); err != nil {
		return watchdogSpec{}, c.errAt(fieldOf(p, err, map[string]string{"Timeout": "timeout", "Interval": "interval"}), "refused", err)
	}
	if stall == 0 {
		stall = u.Timeout / 2
	}
	if stall >= u.Timeout {
		return watchdogSpec{}, c.errAt(p+".stall_after", fmt.Sprintf("%v must be shorter than the timeout %v, or a stalled monitor is never caught", stall, u.Timeout), nil)
	}
	spec := watchdogSpec{Kind: w.Kind, Updater: u, StallAfter: stall}
	switch w.Kind {
	case "", "ipmi-inband":
		spec.Kind = "ipmi-inband"
		spec.IPMI = ipmibmc.DefaultInbandConfig()
	case "ipmi-lan":
		if c.Servers[i].BMC.Kind != "ipmi" {
			return watchdogSpec{}, c.errAt(p+".kind", "ipmi-lan kicks the server's IPMI BMC over the network, but its bmc.kind is "+strconv.Quote(c.Servers[i].BMC.Kind), nil)
		}
		b, err := c.bmcSpec(i, secret)
		if err != nil {
			return watchdogSpec{}, err
		}
		spec.IPMI = b.IPMI
	case "sim":
		if c.Demo.Socket == "" {
			return watchdogSpec{}, c.errAt(p+".kind", "sim is for `failoverd demo` only (demo.socket is not set)", nil)
		}
	case "none":
	default:
		return watchdogSpec{}, c.errAt(p+".kind", fmt.Sprintf("%q: want ipmi-inband, ipmi-lan, sim or none", w.Kind), nil)
	}
	return spec, nil
}

// splitHostPortDefault splits host[:port].
func splitHostPortDefault(addr string, def int) (string, int, error) {
	if addr == "" {
		return "", 0, fmt.Errorf("empty")
	}
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return strings.Trim(addr, "[]"), def, nil
		}
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q", ps)
	}
	return host, port, nil
}

// readSecret is the secretFunc of a running role: the file (which must
// not be readable by everyone) or the environment variable.
func (c *Config) readSecret(path, file, env string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", c.errAt(path+".password_env", fmt.Sprintf("environment variable %q is not set or empty", env), nil)
		}
		return v, nil
	}
	st, err := os.Stat(file)
	if err != nil {
		return "", c.errAt(path+".password_file", "cannot read the password file", err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return "", c.errAt(path+".password_file", fmt.Sprintf("%s has mode %v, readable by every user: chmod 600 it", file, st.Mode().Perm()), nil)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", c.errAt(path+".password_file", "cannot read the password file", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", c.errAt(path+".password_file", file+" is empty", nil)
	}
	return pw, nil
}
