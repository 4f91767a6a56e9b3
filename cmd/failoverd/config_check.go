package main

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/rackha/failover/rack"
)

// check validates every section, stopping at the first problem. The
// library configs are built and validated here as the roles will build
// them (with a placeholder for each secret, which only the role that
// needs it reads).
func (c *Config) check(v *checker) {
	c.pos = v
	c.checkTopology(v)
	for i := range c.Servers {
		c.checkServer(v, i)
	}
	c.checkRackManager(v)
	switch c.ImageStore.Kind {
	case "file":
		if c.ImageStore.Dir == "" {
			v.fail("image_store.dir", "is empty: the shared directory of the VM images", nil)
		}
	case "etcd":
		if c.ImageStore.Dir != "" {
			v.fail("image_store.dir", "is set but kind is etcd: the images live in the etcd section's cluster, under its prefix", nil)
		} else if !c.Etcd.used() {
			v.fail("image_store.kind", "etcd needs the etcd section (endpoints, prefix, tls)", nil)
		}
	default:
		v.fail("image_store.kind", fmt.Sprintf("%q: want file or etcd", c.ImageStore.Kind), nil)
	}
	if c.Etcd.used() && !v.failed() {
		if _, err := c.etcdSpec(placeholderSecret, CertPair{Cert: "(own)", Key: "(own)"}); err != nil {
			v.err = err
		}
	}
	if c.TLS.CA == "" {
		v.fail("tls.ca", "is empty: the PEM file of the rack's CA (failoverd certs makes one)", nil)
	}
	if (c.Operator.Cert == "") != (c.Operator.Key == "") {
		v.fail("operator", "needs both cert and key, or neither", nil)
	}
	c.checkMonitor(v)
	if !v.failed() {
		if _, err := c.leaseSpec(); err != nil {
			v.err = err
		}
	}
	if _, err := c.policy(); err != nil && !v.failed() {
		if ce, ok := err.(*ConfigError); ok {
			v.err = ce
		} else {
			v.fail(policyField(err.Error()), "refused", err)
		}
	}
	if _, err := c.logLevel(); err != nil {
		v.fail("log.level", err.Error(), nil)
	}
	if f := c.Log.Format; f != "" && f != "text" && f != "json" {
		v.fail("log.format", fmt.Sprintf("%q: want text or json", f), nil)
	}
	if _, _, err := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr != "" && err != nil {
		v.fail("metrics_addr", fmt.Sprintf("%q: want host:port", c.MetricsAddr), nil)
	}
	if c.Self != "" && c.server(c.Self) == nil {
		v.fail("self", fmt.Sprintf("%q is not one of servers[].name", c.Self), nil)
	}
}

func (c *Config) checkTopology(v *checker) {
	if len(c.Servers) == 0 {
		v.fail("servers", "is empty: list the rack's servers", nil)
		return
	}
	names := map[string]int{}
	for i, s := range c.Servers {
		p := fmt.Sprintf("servers[%d].name", i)
		switch {
		case s.Name == "":
			v.fail(p, "is empty", nil)
		case !serverNameRE.MatchString(s.Name):
			v.fail(p, fmt.Sprintf("%q: a DNS label (letters, digits, '-'), as in its certificate", s.Name), nil)
		default:
			if j, dup := names[s.Name]; dup {
				v.fail(p, fmt.Sprintf("%q is also servers[%d].name", s.Name, j), nil)
			}
		}
		names[s.Name] = i
	}
	if v.failed() {
		return
	}
	if _, err := c.topology(); err != nil {
		if c.Topology != "pairs" && c.Topology != "ring" {
			v.fail("topology", fmt.Sprintf("%q: want pairs or ring", c.Topology), nil)
			return
		}
		v.fail("servers", "do not fit topology "+c.Topology, err)
	}
}

var serverNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// topology builds the rack's topology.
func (c *Config) topology() (rack.Topology, error) {
	names := c.serverNames()
	switch c.Topology {
	case "pairs":
		return rack.Pairs(names...)
	case "ring":
		return rack.Ring(names...)
	}
	return rack.Topology{}, fmt.Errorf("topology %q: want pairs or ring", c.Topology)
}

func (c *Config) serverNames() []string {
	var names []string
	for _, s := range c.Servers {
		names = append(names, s.Name)
	}
	return names
}

// server returns the named server's section, or nil.
func (c *Config) server(name string) *ServerConfig {
	for i := range c.Servers {
		if c.Servers[i].Name == name {
			return &c.Servers[i]
		}
	}
	return nil
}

// serverIndex is name's index in Servers, or -1.
func (c *Config) serverIndex(name string) int {
	for i := range c.Servers {
		if c.Servers[i].Name == name {
			return i
		}
	}
	return -1
}

func (c *Config) checkServer(v *checker, i int) {
	s := &c.Servers[i]
	p := fmt.Sprintf("servers[%d]", i)
	checkSecret(v, p+".bmc", s.BMC.Password, s.BMC.PasswordFile, s.BMC.PasswordEnv, s.BMC.Kind == "ipmi")
	checkSecret(v, p+".hypervisor", s.Hypervisor.Password, s.Hypervisor.PasswordFile, s.Hypervisor.PasswordEnv, s.Hypervisor.Kind == "vsphere")
	if v.failed() {
		return
	}
	if _, err := c.bmcSpec(i, placeholderSecret); err != nil {
		v.err = err
		return
	}
	if _, err := c.hypervisorSpec(i, false, placeholderSecret); err != nil {
		v.err = err
		return
	}
	if _, err := c.watchdogSpec(i, placeholderSecret); err != nil {
		v.err = err
		return
	}
	if s.TLS.Cert == "" || s.TLS.Key == "" {
		v.fail(p+".tls", "needs cert and key: the PEM files of this server's certificate (failoverd certs makes them)", nil)
	}
}

// placeholderSecret stands in for every secret while the file is checked.
func placeholderSecret(_, _, _ string) (string, error) { return "placeholder", nil }

// checkSecret refuses a literal password and wants exactly one source.
func checkSecret(v *checker, section string, literal *string, file, env string, required bool) {
	switch {
	case literal != nil:
		v.fail(section+".password", "a literal password is not allowed in the config file (it would sit in backups, diffs and process listings): put it in a file named by password_file (mode 0600), or in the environment variable named by password_env", nil)
	case file != "" && env != "":
		v.fail(section+".password_file", "set password_file or password_env, not both", nil)
	case required && file == "" && env == "":
		v.fail(section+".password_file", "is empty: set password_file (a 0600 file holding the password) or password_env", nil)
	}
}

func (c *Config) checkRackManager(v *checker) {
	rm := &c.RackManager
	if _, _, err := net.SplitHostPort(rm.Listen); err != nil {
		v.fail("rack_manager.listen", fmt.Sprintf("%q: want host:port", rm.Listen), nil)
		return
	}
	u, err := url.Parse(rm.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		v.fail("rack_manager.url", fmt.Sprintf("%q: want https://host:port (mutual TLS only)", rm.URL), nil)
		return
	}
	if rm.TLS.Cert == "" || rm.TLS.Key == "" {
		v.fail("rack_manager.tls", "needs cert and key: the rack manager's certificate", nil)
	}
	if l := rm.Page.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			v.fail("rack_manager.page.listen", fmt.Sprintf("%q: want host:port", l), nil)
		}
	} else if rm.Page.TokenFile != "" {
		v.fail("rack_manager.page.token_file", "is set but rack_manager.page.listen is empty", nil)
	}
	for i, op := range rm.Operators {
		if op == "" || c.server(op) != nil {
			v.fail(fmt.Sprintf("rack_manager.operators[%d]", i), fmt.Sprintf("%q: an operator's certificate name, not empty nor a server's", op), nil)
		}
	}
	c.checkJournalFiles(v)
	c.checkReplicas(v)
	if _, err := c.localConfig(); err != nil && !v.failed() {
		if ce, ok := err.(*ConfigError); ok {
			v.err = ce
			return
		}
		v.fail("rack_manager", "refused", err)
	}
}

func (c *Config) checkMonitor(v *checker) {
	var d time.Duration
	v.duration("monitor.action_timeout", c.Monitor.ActionTimeout, &d)
	v.duration("monitor.tick_interval", c.Monitor.TickInterval, &d)
}

// duration parses s into *dst unless s is empty; a bad or negative one
// fails at path.
func (v *checker) duration(path, s string, dst *time.Duration) {
	if s == "" {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.fail(path, fmt.Sprintf("%q is not a duration (write 1s, 250ms, 2m)", s), nil)
		return
	}
	if d <= 0 {
		v.fail(path, fmt.Sprintf("%q must be positive", s), nil)
		return
	}
	*dst = d
}

// errAt is a ConfigError at path, for problems found when a role starts
// (a certificate or password file that cannot be read).
func (c *Config) errAt(path, msg string, err error) error {
	v := &checker{file: c.File, root: c.pos.root}
	v.fail(path, msg, err)
	return v.err
}

// rackManagerName is the name the rack manager's certificate must carry:
// rack_manager.server_name, else the URL's host.
func (c *Config) rackManagerName() string {
	if c.RackManager.ServerName != "" {
		return c.RackManager.ServerName
	}
	u, err := url.Parse(c.RackManager.URL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
