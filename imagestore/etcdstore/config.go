package etcdstore

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/rackha/failover/internal/etcdconn"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrInvalidConfig marks a Config that Validate refuses.
var ErrInvalidConfig = errors.New("failover: invalid etcd store config")

// Config says which etcd cluster to use and where in it the images live.
// Give either Endpoints (with TLS and credentials as needed), and the
// Store makes its own client and closes it, or Client, an existing client
// the Store uses and never closes. Print it freely: every fmt verb, slog
// and String redact the password; the TLS config is never printed.
type Config struct {
	// Client is an existing client to use. The caller keeps owning it:
	// Close leaves it open. With Client set, Endpoints, TLS, Username and
	// Password must be empty, and the Dial* fields are ignored (the
	// client's own settings apply).
	Client *clientv3.Client
	// Endpoints are the cluster's client URLs ("https://10.0.0.5:2379").
	// Required unless Client is set; none by default.
	Endpoints []string
	// TLS secures the connections (client certificate, CA); nil means
	// plain TCP. The Store keeps the pointer: do not change it afterwards.
	TLS *tls.Config
	// Username and Password authenticate to etcd when its auth is on;
	// both empty means no auth. With a Username, New waits for the login
	// (at most DialTimeout); without one, New does not contact etcd.
	Username string
	Password string
	// Prefix is where this store's keys live, so many racks share one
	// cluster: "/failover/rack-7/". Non-empty, ends with "/". No rack's
	// prefix may start with another's.
	Prefix string
	// DialTimeout bounds New's login when Username is set, and each
	// connection attempt. Connecting never blocks New: a call waits for a
	// connection within its RequestTimeout.
	DialTimeout time.Duration
	// ReconnectMaxDelay is the longest wait between attempts to reach an
	// endpoint that is down. gRPC's own default is 120 s: after an etcd
	// outage, claims would wait up to that long for a cluster that is
	// back.
	ReconnectMaxDelay time.Duration
	// DialKeepAliveTime is the idle time after which the client pings the
	// server to find a dead connection (gRPC allows 10 s at least; etcd
	// refuses pings more often than every 5 s by default).
	DialKeepAliveTime time.Duration
	// DialKeepAliveTimeout is how long a ping may go unanswered before
	// the connection counts as dead and the client moves on.
	DialKeepAliveTimeout time.Duration
	// RequestTimeout bounds every single call to etcd, within the caller's
	// context. A Put that runs out of it is reported as outcome unknown.
	RequestTimeout time.Duration
	// MaxValueBytes is the largest stored value (an image's JSON) Put
	// sends; a larger image is refused before sending, with
	// ErrInvalidImage. Keep it below the cluster's --max-request-bytes.
	MaxValueBytes int
}

// DefaultConfig returns the defaults. Endpoints (or Client) must still be
// set, and Prefix changed to the rack's own.
func DefaultConfig() Config {
	return Config{
		// Everything of this library, one rack: change "default" per rack.
		Prefix: "/failover/default/",
		// A login on a LAN takes milliseconds; 5 s covers a slow TLS
		// handshake without hiding a dead endpoint for long.
		DialTimeout: 5 * time.Second,
		// Attempts start 100 ms apart and grow to 2 s: a restarted etcd is
		// used again within about 2 s, at a cost of one connection attempt
		// per endpoint every 2 s while it is down.
		ReconnectMaxDelay: 2 * time.Second,
		// gRPC's least keep-alive interval: a dead connection is found
		// within about 10 s + 5 s even when no call is waiting.
		DialKeepAliveTime: 10 * time.Second,
		// Five seconds without a ping answer: the connection is dead.
		DialKeepAliveTimeout: 5 * time.Second,
		// A write commits in a few milliseconds on a healthy cluster; a
		// leader election takes about a second. 5 s rides it out and stays
		// well within a takeover's action timeout.
		RequestTimeout: 5 * time.Second,
		// etcd refuses requests over 1.5 MiB by default and the client
		// sends at most 2 MiB; 1 MiB leaves room for the transaction.
		MaxValueBytes: 1 << 20,
	}
}

// configName prefixes the fields Validate names.
const configName = "etcdstore.Config"

// Validate names the first field that is wrong, and its value (never the
// password's).
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s.%s", ErrInvalidConfig, configName, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Prefix == "":
		return bad("Prefix is empty")
	case !strings.HasSuffix(c.Prefix, "/"):
		return bad("Prefix %q does not end with \"/\"", c.Prefix)
	case c.RequestTimeout <= 0:
		return bad("RequestTimeout %v is not positive", c.RequestTimeout)
	case c.MaxValueBytes <= 0:
		return bad("MaxValueBytes %d is not positive", c.MaxValueBytes)
	}
	if err := c.conn().Validate(configName); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// conn is the client part of c, every field of it.
func (c Config) conn() etcdconn.Config {
	return etcdconn.Config{
		Client:               c.Client,
		Endpoints:            c.Endpoints,
		TLS:                  c.TLS,
		Username:             c.Username,
		Password:             c.Password,
		DialTimeout:          c.DialTimeout,
		ReconnectMaxDelay:    c.ReconnectMaxDelay,
		DialKeepAliveTime:    c.DialKeepAliveTime,
		DialKeepAliveTimeout: c.DialKeepAliveTimeout,
	}
}

// String describes c with the password redacted and without the TLS
// config's contents.
func (c Config) String() string {
	return fmt.Sprintf("etcdstore.Config{%s Prefix:%q DialTimeout:%v ReconnectMaxDelay:%v DialKeepAliveTime:%v DialKeepAliveTimeout:%v RequestTimeout:%v MaxValueBytes:%d}",
		c.conn().Shown(), c.Prefix, c.DialTimeout, c.ReconnectMaxDelay, c.DialKeepAliveTime, c.DialKeepAliveTimeout, c.RequestTimeout, c.MaxValueBytes)
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return c.String() }

// Format prints String under every verb (%q quotes it), so no verb
// reaches the fields through reflection.
func (c Config) Format(f fmt.State, verb rune) { etcdconn.Format(f, verb, c.String()) }

// LogValue logs c with the password redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append(c.conn().Shown().Attrs(),
		slog.String("prefix", c.Prefix),
		slog.Duration("requestTimeout", c.RequestTimeout),
	)...)
}

// MarshalJSON encodes c with the password redacted; Client and TLS
// encode as whether they are set.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		etcdconn.Shown
		Prefix               string
		DialTimeout          time.Duration
		ReconnectMaxDelay    time.Duration
		DialKeepAliveTime    time.Duration
		DialKeepAliveTimeout time.Duration
		RequestTimeout       time.Duration
		MaxValueBytes        int
	}{c.conn().Shown(), c.Prefix, c.DialTimeout, c.ReconnectMaxDelay, c.DialKeepAliveTime, c.DialKeepAliveTimeout, c.RequestTimeout, c.MaxValueBytes})
}
