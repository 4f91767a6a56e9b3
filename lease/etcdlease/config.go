package etcdlease

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
var ErrInvalidConfig = errors.New("failover: invalid etcd lease config")

// Config says which etcd cluster holds the leases, where in it, and for
// how long a lease lasts. Give either Client (the caller keeps owning it)
// or Endpoints (New dials, Close closes). Print it freely: every fmt verb,
// slog and JSON redact the password; the TLS config is never printed.
type Config struct {
	// Client is an existing client to use; Close leaves it open. With
	// Client set, Endpoints, TLS, Username and Password must be empty and
	// DialTimeout is ignored.
	Client *clientv3.Client
	// Endpoints are the cluster's client URLs ("https://10.0.0.5:2379").
	// Required unless Client is set.
	Endpoints []string
	// TLS secures the connections; nil means plain TCP. Not copied: do
	// not change it afterwards.
	TLS *tls.Config
	// Username and Password authenticate when etcd's auth is on; both
	// empty means no auth.
	Username string
	Password string
	// Prefix is where the keys live (see the package doc), so many racks
	// share a cluster. Non-empty, ends with "/".
	Prefix string
	// TTL is the lease's time to live, a whole number of seconds (etcd
	// counts leases in seconds), at least 1 s. The cluster may grant more
	// (its minimum is 1.5 election timeouts); the Keeper and the watchers
	// use what was granted.
	TTL time.Duration
	// DialTimeout bounds each connection attempt.
	DialTimeout time.Duration
	// RequestTimeout bounds each call to etcd (a renewal also by TTL/3).
	RequestTimeout time.Duration
	// Peers are the servers this process's watcher watches: Watch reports
	// the lease of each. Names are non-empty, without "/", no duplicates.
	Peers []string
	// Logger receives takeovers waited on, lost leases and values that do
	// not decode. Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults. Endpoints (or Client) and Peers must
// still be set.
func DefaultConfig() Config {
	return Config{
		// One prefix for the whole library's keys; change it per rack
		// when racks share a cluster.
		Prefix: "/rackha/failover/",
		// A host cut off from etcd stops kicking its watchdog within 10 s;
		// renewals every 3.3 s ride out one or two lost round trips and a
		// leader election (about 1 s) without a false stop.
		TTL: 10 * time.Second,
		// A connection on a LAN takes milliseconds; 5 s covers a slow TLS
		// handshake without hiding a dead endpoint for long.
		DialTimeout: 5 * time.Second,
		// A write commits in milliseconds on a healthy cluster; 5 s rides
		// out a leader election.
		RequestTimeout: 5 * time.Second,
		// Peers: none by default; the rack's topology says whom to watch.
		// Logger: nil, slog.Default().
	}
}

// configName prefixes the fields Validate names.
const configName = "etcdlease.Config"

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
	case c.TTL < time.Second:
		return bad("TTL %v is shorter than 1s", c.TTL)
	case c.TTL%time.Second != 0:
		return bad("TTL %v is not a whole number of seconds (etcd leases count in seconds)", c.TTL)
	case c.RequestTimeout <= 0:
		return bad("RequestTimeout %v is not positive", c.RequestTimeout)
	}
	seen := map[string]bool{}
	for i, p := range c.Peers {
		if err := checkName(p); err != nil {
			return bad("Peers[%d]: %v", i, err)
		}
		if seen[p] {
			return bad("Peers[%d] %q is listed twice", i, p)
		}
		seen[p] = true
	}
	if err := c.conn().Validate(configName); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// The client settings Config does not offer.
const (
	// reconnectMaxDelay is the longest wait between attempts to reach an
	// endpoint that is down (gRPC's default is 120 s: a keeper would stay
	// without a lease that long after an etcd restart).
	reconnectMaxDelay = time.Second
	// dialKeepAliveTime is gRPC's least keep-alive interval: a dead
	// connection is found within about 10 s + DialTimeout even when no
	// call waits.
	dialKeepAliveTime = 10 * time.Second
)

// conn is the client part of c, every field of it, with the settings
// Config does not offer (a ping unanswered for DialTimeout is a dead
// connection).
func (c Config) conn() etcdconn.Config {
	return etcdconn.Config{
		Client:               c.Client,
		Endpoints:            c.Endpoints,
		TLS:                  c.TLS,
		Username:             c.Username,
		Password:             c.Password,
		DialTimeout:          c.DialTimeout,
		ReconnectMaxDelay:    reconnectMaxDelay,
		DialKeepAliveTime:    dialKeepAliveTime,
		DialKeepAliveTimeout: c.DialTimeout,
	}
}

// String describes c with the password redacted and without the TLS
// config's contents.
func (c Config) String() string {
	return fmt.Sprintf("etcdlease.Config{%s Prefix:%q TTL:%v DialTimeout:%v RequestTimeout:%v Peers:%q Logger:%s}",
		c.conn().Shown(), c.Prefix, c.TTL, c.DialTimeout, c.RequestTimeout, c.Peers, loggerSet(c.Logger))
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
		slog.Duration("ttl", c.TTL),
		slog.Duration("requestTimeout", c.RequestTimeout),
		slog.Any("peers", c.Peers),
	)...)
}

// MarshalJSON encodes c with the password redacted; Client, TLS and
// Logger encode as whether they are set.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		etcdconn.Shown
		Prefix         string
		TTL            time.Duration
		DialTimeout    time.Duration
		RequestTimeout time.Duration
		Peers          []string
		Logger         bool
	}{c.conn().Shown(), c.Prefix, c.TTL, c.DialTimeout, c.RequestTimeout, c.Peers, c.Logger != nil})
}

func loggerSet(l *slog.Logger) string {
	if l == nil {
		return "nil"
	}
	return "set"
}
