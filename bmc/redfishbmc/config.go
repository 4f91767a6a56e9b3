package redfishbmc

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/rackha/failover/bmc"
)

// ErrInvalidConfig marks a Config that Validate refused.
var ErrInvalidConfig = errors.New("failover: invalid Redfish configuration")

// Config says how to reach one Redfish service and which system to serve.
type Config struct {
	// Endpoint is the service's base URL, https://HOST[:PORT]. Required.
	// It must not hold credentials.
	Endpoint string
	// Username and Password log in through the SessionService. An empty
	// Username means no authentication (public test services only).
	Username string
	Password string
	// BasicAuth sends the credentials with every request instead of
	// opening a session. Default false: sessions.
	BasicAuth bool
	// System is the ComputerSystem's Id or @odata.id. Empty: the service
	// must have exactly one system.
	System string
	// CAFile is a PEM file of the CAs to trust instead of the system
	// roots. Default "": system roots.
	CAFile string
	// PinnedCertSHA256 is the hex SHA-256 of the BMC's leaf certificate
	// (DER). When set, only that certificate is accepted, whoever signed
	// it (self-signed BMC certificates). Default "": not pinned.
	PinnedCertSHA256 string
	// InsecureSkipVerify turns TLS verification off. Default false; only
	// for lab use, and refused together with CAFile or a pin.
	InsecureSkipVerify bool
	// AllowHTTP permits an http:// endpoint (no TLS). Default false:
	// refused with bmc.ErrInsecure.
	AllowHTTP bool
	// RequestTimeout bounds each HTTP request. Default 10 s.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds every response body read. Default 4 MiB: the
	// largest real resources (collections with excerpts) stay far below.
	MaxBodyBytes int64
	// MaxConcurrentRequests is how many requests run at once on this
	// adapter. Default 4: BMCs are small machines.
	MaxConcurrentRequests int
	// PowerPollInterval is how often SetPower reads PowerState back.
	// Default 500 ms.
	PowerPollInterval time.Duration
	// PollInterval is how often Events polls the system, whether an
	// event stream is open or not. Default 5 s.
	PollInterval time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between event-stream
	// reconnects; it doubles from Min up to Max. Defaults 500 ms and 30 s.
	ReconnectMin, ReconnectMax time.Duration
	// StallTimeout: an event stream that gives no valid event this long
	// is reconnected; keep-alives and undecodable events do not count, so
	// a stream that trickles bytes is as stalled as a silent one. Default
	// 5 min: a quiet healthy stream is reopened that often, and polling
	// (PollInterval) runs all along.
	StallTimeout time.Duration
	// WatchdogLogInterval is how often State, Events' polling and Health
	// read the system's LogServices, for a watchdog expiry and for
	// correctable memory errors the service logged. Default 10 s: a log
	// can be long, and the event stream reports an expiry at once where
	// the service sends one.
	WatchdogLogInterval time.Duration
	// Logger receives reconnects and skipped events. Default slog.Default().
	Logger *slog.Logger `json:"-"`
}

// DefaultConfig returns the defaults documented on Config, with no
// endpoint.
func DefaultConfig() Config {
	return Config{
		RequestTimeout:        10 * time.Second,
		MaxBodyBytes:          4 << 20,
		MaxConcurrentRequests: 4,
		PowerPollInterval:     500 * time.Millisecond,
		PollInterval:          5 * time.Second,
		ReconnectMin:          500 * time.Millisecond,
		ReconnectMax:          30 * time.Second,
		StallTimeout:          5 * time.Minute,
		WatchdogLogInterval:   10 * time.Second,
		Logger:                slog.Default(),
	}
}

// Validate names the first field that is wrong. Insecure settings wrap
// bmc.ErrInsecure, others ErrInvalidConfig. Secrets are never quoted.
func (c Config) Validate() error {
	u, err := url.Parse(c.Endpoint)
	switch {
	case c.Endpoint == "":
		return fmt.Errorf("%w: Config.Endpoint is empty", ErrInvalidConfig)
	case err != nil:
		return fmt.Errorf("%w: Config.Endpoint is not a URL", ErrInvalidConfig)
	case u.User != nil:
		return fmt.Errorf("%w: Config.Endpoint holds credentials; use Username and Password", bmc.ErrInsecure)
	case u.Scheme == "http" && !c.AllowHTTP:
		return fmt.Errorf("%w: Config.Endpoint %q is plain http; set AllowHTTP to permit it", bmc.ErrInsecure, c.Endpoint)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%w: Config.Endpoint %q must be https://HOST[:PORT]", ErrInvalidConfig, c.Endpoint)
	case u.Host == "":
		return fmt.Errorf("%w: Config.Endpoint %q has no host", ErrInvalidConfig, c.Endpoint)
	case strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%w: Config.Endpoint %q must have no path, query or fragment", ErrInvalidConfig, c.Endpoint)
	case c.Username == "" && c.Password != "":
		return fmt.Errorf("%w: Config.Password is set but Username is empty", ErrInvalidConfig)
	case c.BasicAuth && c.Username == "":
		return fmt.Errorf("%w: Config.BasicAuth needs a Username", ErrInvalidConfig)
	case c.InsecureSkipVerify && (c.CAFile != "" || c.PinnedCertSHA256 != ""):
		return fmt.Errorf("%w: Config.InsecureSkipVerify contradicts CAFile or PinnedCertSHA256", ErrInvalidConfig)
	case c.PinnedCertSHA256 != "" && !isSHA256Hex(c.PinnedCertSHA256):
		return fmt.Errorf("%w: Config.PinnedCertSHA256 %q is not 64 hex digits", ErrInvalidConfig, c.PinnedCertSHA256)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("%w: Config.RequestTimeout %v must be positive", ErrInvalidConfig, c.RequestTimeout)
	case c.MaxBodyBytes < 4096:
		return fmt.Errorf("%w: Config.MaxBodyBytes %d must be at least 4096", ErrInvalidConfig, c.MaxBodyBytes)
	case c.MaxConcurrentRequests < 1:
		return fmt.Errorf("%w: Config.MaxConcurrentRequests %d must be at least 1", ErrInvalidConfig, c.MaxConcurrentRequests)
	case c.PowerPollInterval <= 0:
		return fmt.Errorf("%w: Config.PowerPollInterval %v must be positive", ErrInvalidConfig, c.PowerPollInterval)
	case c.PollInterval <= 0:
		return fmt.Errorf("%w: Config.PollInterval %v must be positive", ErrInvalidConfig, c.PollInterval)
	case c.ReconnectMin <= 0 || c.ReconnectMax < c.ReconnectMin:
		return fmt.Errorf("%w: Config.ReconnectMin %v and ReconnectMax %v must be positive, Min <= Max", ErrInvalidConfig, c.ReconnectMin, c.ReconnectMax)
	case c.StallTimeout <= 0:
		return fmt.Errorf("%w: Config.StallTimeout %v must be positive", ErrInvalidConfig, c.StallTimeout)
	case c.WatchdogLogInterval <= 0:
		return fmt.Errorf("%w: Config.WatchdogLogInterval %v must be positive", ErrInvalidConfig, c.WatchdogLogInterval)
	}
	return nil
}

func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	return err == nil && len(b) == 32
}
