package ipmibmc

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rackha/failover/bmc"
)

// ErrInvalidConfig marks a Config value out of range (not a security matter;
// those wrap bmc.ErrInsecure).
var ErrInvalidConfig = errors.New("ipmibmc: invalid configuration")

// Interface is how the adapter reaches the BMC.
type Interface string

// Interfaces.
const (
	// InterfaceLanplus is IPMI 2.0 / RMCP+ over UDP: authenticated and
	// encrypted with the configured cipher suite.
	InterfaceLanplus Interface = "lanplus"
	// InterfaceLAN is IPMI 1.5 over UDP: no encryption. Refused unless
	// Config.AllowIPMI15 is set.
	InterfaceLAN Interface = "lan"
	// InterfaceOpen is the local system interface (/dev/ipmi0 through the
	// Linux OpenIPMI driver): a server talking to its own BMC.
	InterfaceOpen Interface = "open"
)

// Config configures one BMC connection.
type Config struct {
	// Host is the BMC's address (name or IP). Required for the LAN
	// interfaces, ignored for InterfaceOpen.
	Host string
	// Port is the BMC's UDP port. Default 623 (IPMI's RMCP port).
	Port int
	// Username on the BMC; may be empty for a BMC's anonymous user.
	Username string
	// Password on the BMC: required (non-empty) for the LAN interfaces,
	// at most 20 bytes (16 for IPMI 1.5). Never logged or printed.
	Password string
	// Interface is how to reach the BMC. Default InterfaceLanplus.
	Interface Interface
	// CipherSuite is the RMCP+ cipher suite, always set explicitly so that
	// a BMC that never answers Get Channel Cipher Suites costs nothing.
	// Default 17 (SHA-256, HMAC-SHA256-128, AES-CBC-128); 3 (SHA-1,
	// HMAC-SHA1-96, AES-CBC-128) is allowed for older BMCs. Any other
	// value is refused; 0 (no authentication) with bmc.ErrInsecure.
	CipherSuite int
	// AllowIPMI15 permits InterfaceLAN (IPMI 1.5, unencrypted). Default
	// false.
	AllowIPMI15 bool
	// Timeout bounds one request/answer exchange. Default 1 s: a BMC on a
	// LAN answers in milliseconds, so a second means it is gone.
	Timeout time.Duration
	// Retries is how many times a request is re-sent after a timeout.
	// Default 1, so an unreachable BMC is reported after about 2 s.
	Retries int
	// WatchdogPretimeout sets the watchdog's pre-timeout action to a
	// messaging interrupt 0 s before expiry. Default false. OpenIPMI's
	// ipmi_sim (2.0.33) needs it: without a pre-timeout action its Reset
	// Watchdog Timer does not move a countdown that is already running, so
	// kicks are lost. On a real server the interrupt reaches the OS IPMI
	// driver, which may act on it (Linux ipmi_watchdog preop): leave it off
	// there.
	WatchdogPretimeout bool
	// ThresholdRefresh is how often the sensors' thresholds are read
	// again (Get Sensor Thresholds), so that thresholds changed on the BMC
	// take effect without a change of the SDR repository. Default 1 min:
	// one request per sensor per minute.
	ThresholdRefresh time.Duration
	// SDRCacheDir, when set, keeps the BMC's sensor data records in a
	// file in this directory (created 0700 if missing), so that a new
	// process need not read the whole SDR repository again; see
	// Readings. It must be an absolute path. Default "" (records are
	// cached in memory only, for the life of the BMC value).
	SDRCacheDir string
	// PowerPoll is the interval between power-state reads while a power
	// operation is being confirmed. Default 250 ms.
	PowerPoll time.Duration
	// Logger receives warnings (a sensor reading that cannot be a
	// measurement, a failed session close). Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config, for host with
// user and password.
func DefaultConfig(host, user, password string) Config {
	return Config{
		Host:             host,
		Port:             623,
		Username:         user,
		Password:         password,
		Interface:        InterfaceLanplus,
		CipherSuite:      17,
		Timeout:          time.Second,
		Retries:          1,
		PowerPoll:        250 * time.Millisecond,
		ThresholdRefresh: time.Minute,
		SDRCacheDir:      "",
		Logger:           slog.Default(),
	}
}

// DefaultInbandConfig returns a Config for the local system interface
// (/dev/ipmi0), with the other defaults of DefaultConfig.
func DefaultInbandConfig() Config {
	c := DefaultConfig("", "", "")
	c.Interface = InterfaceOpen
	c.Timeout = 5 * time.Second
	c.Retries = 0
	return c
}

// Validate names the first field that is out of range or insecure.
func (c Config) Validate() error {
	switch c.Interface {
	case InterfaceOpen:
	case InterfaceLanplus, InterfaceLAN:
		if c.Interface == InterfaceLAN && !c.AllowIPMI15 {
			return fmt.Errorf("%w: Config.Interface %q (IPMI 1.5, unencrypted) needs Config.AllowIPMI15", bmc.ErrInsecure, c.Interface)
		}
		if c.Host == "" {
			return fmt.Errorf("%w: Config.Host is empty", ErrInvalidConfig)
		}
		if c.Port <= 0 || c.Port > 65535 {
			return fmt.Errorf("%w: Config.Port %d out of 1..65535", ErrInvalidConfig, c.Port)
		}
		if c.Password == "" {
			return fmt.Errorf("%w: Config.Password is empty", bmc.ErrInsecure)
		}
		max := 20
		if c.Interface == InterfaceLAN {
			max = 16
		}
		if len(c.Password) > max {
			return fmt.Errorf("%w: Config.Password is %d bytes, at most %d allowed", ErrInvalidConfig, len(c.Password), max)
		}
		if len(c.Username) > 16 {
			return fmt.Errorf("%w: Config.Username is %d bytes, at most 16 allowed", ErrInvalidConfig, len(c.Username))
		}
		if c.Interface == InterfaceLanplus {
			if err := checkCipherSuite(c.CipherSuite); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: Config.Interface %q unknown (want lanplus, lan or open)", ErrInvalidConfig, c.Interface)
	}
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("%w: Config.Timeout %v must be positive", ErrInvalidConfig, c.Timeout)
	case c.Retries < 0 || c.Retries > 10:
		return fmt.Errorf("%w: Config.Retries %d out of 0..10", ErrInvalidConfig, c.Retries)
	case c.PowerPoll <= 0:
		return fmt.Errorf("%w: Config.PowerPoll %v must be positive", ErrInvalidConfig, c.PowerPoll)
	case c.ThresholdRefresh <= 0:
		return fmt.Errorf("%w: Config.ThresholdRefresh %v must be positive", ErrInvalidConfig, c.ThresholdRefresh)
	case c.SDRCacheDir != "" && !filepath.IsAbs(c.SDRCacheDir):
		return fmt.Errorf("%w: Config.SDRCacheDir %q is not an absolute path", ErrInvalidConfig, c.SDRCacheDir)
	}
	return nil
}

// insecureSuites lack integrity or confidentiality (IPMI 2.0 table 22-20).
var insecureSuites = map[int]bool{0: true, 1: true, 2: true, 6: true, 7: true, 11: true, 15: true, 16: true}

func checkCipherSuite(id int) error {
	switch {
	case id == 3 || id == 17:
		return nil
	case insecureSuites[id]:
		return fmt.Errorf("%w: Config.CipherSuite %d lacks authentication, integrity or encryption; use 17 or 3", bmc.ErrInsecure, id)
	}
	return fmt.Errorf("%w: Config.CipherSuite %d not supported; use 17 or 3", ErrInvalidConfig, id)
}

// target is host:port, or "in-band", for messages.
func (c Config) target() string {
	if c.Interface == InterfaceOpen {
		return "in-band"
	}
	return c.Host + ":" + strconv.Itoa(c.Port)
}

// String describes c with the password redacted.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "REDACTED"
	}
	return fmt.Sprintf("ipmibmc.Config{Host:%q Port:%d Username:%q Password:%s Interface:%s CipherSuite:%d AllowIPMI15:%t Timeout:%v Retries:%d WatchdogPretimeout:%t ThresholdRefresh:%v SDRCacheDir:%q PowerPoll:%v}",
		c.Host, c.Port, c.Username, pw, c.Interface, c.CipherSuite, c.AllowIPMI15, c.Timeout, c.Retries, c.WatchdogPretimeout, c.ThresholdRefresh, c.SDRCacheDir, c.PowerPoll)
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return c.String() }

// Format makes every verb (%v, %+v, %#v, %s, %q, %d, %x, ...) print
// String. (%p is a bad verb for a struct: fmt prints the fields without
// asking Format, so do not use it on a Config.)
func (c Config) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	fmt.Fprint(f, c.String())
}

// MarshalJSON encodes c with its password redacted and without its Logger.
func (c Config) MarshalJSON() ([]byte, error) {
	type fields Config // the same fields, without these methods
	f := fields(c)
	f.Password = newSecret(c.Password).String()
	f.Logger = nil
	return json.Marshal(f)
}

// LogValue logs c without its password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("host", c.Host), slog.Int("port", c.Port), slog.String("user", c.Username),
		slog.Bool("password_set", c.Password != ""), slog.String("interface", string(c.Interface)),
		slog.Int("cipher_suite", c.CipherSuite))
}
