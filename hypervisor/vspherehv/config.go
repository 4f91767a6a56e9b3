package vspherehv

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// ErrConfig is wrapped by every error Config.Validate returns.
var ErrConfig = errors.New("vspherehv: invalid config")

// Config says how to reach vCenter (or ESXi) and which host this
// hypervisor is. Its String, GoString and LogValue never show Password.
type Config struct {
	// URL of the SDK endpoint, such as "https://vcenter.example/sdk". It
	// must not carry credentials: use Username and Password.
	URL string
	// Username and Password log in to vCenter or ESXi.
	Username string
	Password string
	// Host is the ESXi host this hypervisor drives: its inventory name
	// (as vCenter lists it) or inventory path.
	Host string
	// Datacenter holding Host; empty means the only datacenter.
	Datacenter string
	// Server is the rack's name for this server, written as Owner by
	// Capture; empty means Host.
	Server string
	// Thumbprint pins the server certificate: SHA-1 or SHA-256 hex, colon
	// separated ("AB:CD:..."), as vSphere prints it. A certificate that the
	// system roots and RootCAs do not trust is accepted only if it matches.
	Thumbprint string
	// RootCAs, when set, replaces the system roots for verifying vCenter.
	RootCAs *x509.CertPool
	// Insecure turns TLS verification off. For tests only; never default.
	Insecure bool
	// KeepAlive is the interval between session keep-alive calls.
	KeepAlive time.Duration
	// ShutdownTimeout bounds a graceful guest shutdown in Stop before the
	// VM is powered off; ctx's deadline less ForceReserve bounds it too.
	ShutdownTimeout time.Duration
	// ForceReserve is kept from ctx's deadline for the forced power-off.
	ForceReserve time.Duration
	// PollInterval is how often Stop reads the power state while a guest
	// shuts down.
	PollInterval time.Duration
	// StaleHostWait bounds how long Start waits for vCenter to mark a
	// fenced host down when a copy of the VM still shows as running there.
	// vCenter notices a lost host when its heartbeat times out (about a
	// minute by default). Zero refuses at once.
	StaleHostWait time.Duration
	// CheckCapacity makes Start refuse with hypervisor.ErrNoCapacity an
	// image whose MemoryMiB or CPUs exceed FreeCapacity.
	CheckCapacity bool
	// Datastores are the datastores a stored image may name: the .vmx of
	// the register form, the create form's datastore, disks and
	// checkpoints, and the disks a registered .vmx attaches. Required:
	// list the shared datastores backups live on, so an image cannot reach
	// a host's local or another tenant's datastore.
	Datastores []string
	// Logger receives one line per takeover step; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a Config for url and host with every other
// setting at its default; set Username and Password.
func DefaultConfig(url, host string) Config {
	return Config{
		URL:             url,
		Host:            host,
		KeepAlive:       5 * time.Minute,        // vCenter drops idle sessions after 30 min by default
		ShutdownTimeout: 60 * time.Second,       // guest OS shutdown budget
		ForceReserve:    10 * time.Second,       // a power-off task needs a few seconds
		PollInterval:    250 * time.Millisecond, // power-state polling during shutdown
		StaleHostWait:   90 * time.Second,       // vCenter's host heartbeat timeout plus margin
		CheckCapacity:   true,                   // refuse starts that do not fit
		Datastores:      nil,                    // none: the caller names the shared datastores (Validate insists)
	}
}

var thumbprintRE = regexp.MustCompile(`^([0-9A-F]{2}:){19}[0-9A-F]{2}$|^([0-9A-F]{2}:){31}[0-9A-F]{2}$`)

// Validate names the first field that is wrong and its value (never the
// password's).
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return fmt.Errorf("%w: URL is empty", ErrConfig)
	case err != nil:
		return fmt.Errorf("%w: URL does not parse", ErrConfig)
	case u.User != nil:
		return fmt.Errorf("%w: URL %s carries credentials: use Username and Password", ErrConfig, redactURL(u))
	case u.Scheme == "http" && !c.Insecure:
		return fmt.Errorf("%w: URL %s is plain http, which sends the password in clear: use https (http only with Insecure, for tests)", ErrConfig, c.URL)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%w: URL scheme %q: want https", ErrConfig, u.Scheme)
	case u.Host == "":
		return fmt.Errorf("%w: URL %q has no host", ErrConfig, c.URL)
	case c.Username == "":
		return fmt.Errorf("%w: Username is empty", ErrConfig)
	case c.Password == "":
		return fmt.Errorf("%w: Password is empty", ErrConfig)
	case c.Host == "":
		return fmt.Errorf("%w: Host is empty", ErrConfig)
	case c.Thumbprint != "" && !thumbprintRE.MatchString(normThumbprint(c.Thumbprint)):
		return fmt.Errorf("%w: Thumbprint %q is not a SHA-1 or SHA-256 hex thumbprint", ErrConfig, c.Thumbprint)
	case c.Insecure && (c.Thumbprint != "" || c.RootCAs != nil):
		return fmt.Errorf("%w: Insecure is true together with Thumbprint or RootCAs: pick one", ErrConfig)
	case c.KeepAlive <= 0:
		return fmt.Errorf("%w: KeepAlive %v must be positive", ErrConfig, c.KeepAlive)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("%w: ShutdownTimeout %v is negative", ErrConfig, c.ShutdownTimeout)
	case c.ForceReserve < 0:
		return fmt.Errorf("%w: ForceReserve %v is negative", ErrConfig, c.ForceReserve)
	case c.StaleHostWait < 0:
		return fmt.Errorf("%w: StaleHostWait %v is negative", ErrConfig, c.StaleHostWait)
	case c.PollInterval <= 0:
		return fmt.Errorf("%w: PollInterval %v must be positive", ErrConfig, c.PollInterval)
	case len(c.Datastores) == 0:
		return fmt.Errorf("%w: Datastores is empty: name the datastores images may use", ErrConfig)
	}
	for i, ds := range c.Datastores {
		if ds == "" || !printable(ds) || strings.ContainsAny(ds, "[]") || strings.TrimSpace(ds) != ds {
			return fmt.Errorf("%w: Datastores[%d] %q is not a datastore name", ErrConfig, i, ds)
		}
	}
	return nil
}

func normThumbprint(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

func redactURL(u *url.URL) string {
	v := *u
	if v.User != nil {
		v.User = url.User("REDACTED")
	}
	return v.String()
}

// String shows the config without the password.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "REDACTED"
	}
	return fmt.Sprintf("vspherehv.Config{URL: %q, Username: %q, Password: %q, Host: %q, Datacenter: %q, Server: %q, Thumbprint: %q, RootCAs: %t, Insecure: %t, KeepAlive: %v, ShutdownTimeout: %v, ForceReserve: %v, PollInterval: %v, StaleHostWait: %v, CheckCapacity: %t, Datastores: %q}",
		c.URL, c.Username, pw, c.Host, c.Datacenter, c.Server, c.Thumbprint, c.RootCAs != nil, c.Insecure,
		c.KeepAlive, c.ShutdownTimeout, c.ForceReserve, c.PollInterval, c.StaleHostWait, c.CheckCapacity, c.Datastores)
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return c.String() }

// LogValue redacts the password in slog output.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL),
		slog.String("username", c.Username),
		slog.String("password", "REDACTED"),
		slog.String("host", c.Host),
		slog.String("datacenter", c.Datacenter),
		slog.Bool("pinned", c.Thumbprint != ""),
		slog.Bool("insecure", c.Insecure),
		slog.Any("datastores", c.Datastores),
	)
}
