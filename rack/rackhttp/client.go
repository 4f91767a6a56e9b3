package rackhttp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// URL of the rack manager, https://host:port. Required.
	URL string
	// URLs are further rack manager replicas (rack/rackelect), each
	// https://host:port. Only the leader serves; a follower answers
	// not_leader naming it. Each request goes to the replica last found
	// leading; when one did not act on it (not the leader, or not
	// reached, so nothing was sent) the Client tries the leader a
	// follower named, if it is one of URL and URLs, then the others in
	// turn. Optional.
	URLs []string
	// TLS is the client's TLS configuration, from ClientTLS. Required.
	TLS *tls.Config
	// Backoff is the first reconnect delay's ceiling; it doubles per
	// failed attempt up to MaxBackoff, and each delay is drawn uniformly
	// below the ceiling (full jitter), so monitors that lost the rack
	// manager together do not come back together. Default 100 ms.
	Backoff time.Duration
	// MaxBackoff caps the ceiling. Default 5 s: a restarted rack manager
	// is found within seconds, well inside the rack manager's
	// HandoverAfter (10 s by default), so a reconnect does not hand this
	// watcher's servers to another.
	MaxBackoff time.Duration
	// StallAfter: a stream with no byte (no event, no heartbeat) for this
	// long is stalled and is reconnected. Default 3 s: three of the
	// server's default heartbeats.
	StallAfter time.Duration
	// PowerTimeout bounds one power request, answer included. Default
	// 70 s: the rack manager's default 60 s power timeout and a margin,
	// so its own answer comes first.
	PowerTimeout time.Duration
	// MaxEventBytes bounds one SSE event. Default 1 MiB; a status is a
	// few KiB. A bigger event is an error naming the size, then the
	// stream is reconnected.
	MaxEventBytes int
	// Logger receives reconnects. Default slog.Default().
	Logger *slog.Logger
}

// DefaultClientConfig returns the defaults documented on ClientConfig,
// without URL and TLS.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Backoff:       100 * time.Millisecond,
		MaxBackoff:    5 * time.Second,
		StallAfter:    3 * time.Second,
		PowerTimeout:  70 * time.Second,
		MaxEventBytes: 1 << 20,
		Logger:        slog.Default(),
	}
}

// Validate names the first field that is wrong.
func (c ClientConfig) Validate() error {
	if c.URL == "" {
		return fmt.Errorf("%w: ClientConfig.URL is empty", rack.ErrInvalidConfig)
	}
	seen := map[string]string{}
	for i, raw := range append([]string{c.URL}, c.URLs...) {
		field := "URL"
		if i > 0 {
			field = fmt.Sprintf("URLs[%d]", i-1)
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return fmt.Errorf("%w: ClientConfig.%s %q: %v", rack.ErrInvalidConfig, field, raw, err)
		case u.Scheme != "https" || u.Host == "":
			return fmt.Errorf("%w: ClientConfig.%s %q: want https://host:port", rack.ErrInvalidConfig, field, raw)
		}
		if prev, dup := seen[strings.TrimSuffix(raw, "/")]; dup {
			return fmt.Errorf("%w: ClientConfig.%s %q is also %s", rack.ErrInvalidConfig, field, raw, prev)
		}
		seen[strings.TrimSuffix(raw, "/")] = field
	}
	switch {
	case c.TLS == nil:
		return fmt.Errorf("%w: ClientConfig.TLS is nil", rack.ErrInvalidConfig)
	case c.TLS.MinVersion < tls.VersionTLS13:
		return fmt.Errorf("%w: ClientConfig.TLS.MinVersion %#x: want TLS 1.3 (use ClientTLS)", rack.ErrInvalidConfig, c.TLS.MinVersion)
	case c.TLS.InsecureSkipVerify:
		return fmt.Errorf("%w: ClientConfig.TLS.InsecureSkipVerify is set", rack.ErrInvalidConfig)
	case c.TLS.GetClientCertificate == nil && len(c.TLS.Certificates) == 0:
		return fmt.Errorf("%w: ClientConfig.TLS has no client certificate (use ClientTLS)", rack.ErrInvalidConfig)
	case c.Backoff <= 0:
		return fmt.Errorf("%w: ClientConfig.Backoff %v must be positive", rack.ErrInvalidConfig, c.Backoff)
	case c.MaxBackoff < c.Backoff:
		return fmt.Errorf("%w: ClientConfig.MaxBackoff %v must be at least Backoff %v", rack.ErrInvalidConfig, c.MaxBackoff, c.Backoff)
	case c.StallAfter <= 0:
		return fmt.Errorf("%w: ClientConfig.StallAfter %v must be positive", rack.ErrInvalidConfig, c.StallAfter)
	case c.PowerTimeout <= 0:
		return fmt.Errorf("%w: ClientConfig.PowerTimeout %v must be positive", rack.ErrInvalidConfig, c.PowerTimeout)
	case c.MaxEventBytes < 1024:
		return fmt.Errorf("%w: ClientConfig.MaxEventBytes %d must be at least 1024", rack.ErrInvalidConfig, c.MaxEventBytes)
	case c.Logger == nil:
		return fmt.Errorf("%w: ClientConfig.Logger is nil", rack.ErrInvalidConfig)
	}
	return nil
}

// Client is a rack.Manager that reaches a Handler over HTTPS. Safe for
// concurrent use.
type Client struct {
	cfg   ClientConfig
	bases []string     // URL, then URLs, without a trailing slash
	cur   atomic.Int32 // index in bases of the replica last found leading
	http  *http.Client
	rand  func(n int64) int64 // uniform in [0, n)
}

var _ rack.Manager = (*Client)(nil)

// NewClient fills cfg's unset fields (zero values) with their defaults,
// checks it and returns a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	def := DefaultClientConfig()
	if cfg.Backoff == 0 {
		cfg.Backoff = def.Backoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = max(def.MaxBackoff, cfg.Backoff)
	}
	if cfg.StallAfter == 0 {
		cfg.StallAfter = def.StallAfter
	}
	if cfg.PowerTimeout == 0 {
		cfg.PowerTimeout = def.PowerTimeout
	}
	if cfg.MaxEventBytes == 0 {
		cfg.MaxEventBytes = def.MaxEventBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:       cfg.TLS.Clone(),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // power answers take up to PowerTimeout; watch headers come at once
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		Proxy:                 http.ProxyFromEnvironment,
	}
	c := &Client{cfg: cfg, http: &http.Client{Transport: tr}, rand: rand.Int64N}
	for _, u := range append([]string{cfg.URL}, cfg.URLs...) {
		c.bases = append(c.bases, strings.TrimSuffix(u, "/"))
	}
	return c, nil
}

// attempt is one request to one replica: retry says it was not acted on
// (not sent, or a follower's not_leader), and hint names the leader a
// follower gave.
type attempt struct {
	retry bool
	hint  string
}

// onLeader runs do on the replica last found leading and, while do says
// its request was not acted on, on the leader a follower named, else the
// next replica: up to twice each. The replica that answered is
// remembered.
func (c *Client) onLeader(ctx context.Context, do func(base string) (attempt, error)) error {
	n := len(c.bases)
	limit := 1
	if n > 1 {
		limit = 2 * n
	}
	i := int(c.cur.Load())
	var err error
	for range limit {
		var a attempt
		a, err = do(c.bases[i])
		if !a.retry || ctx.Err() != nil {
			c.cur.Store(int32(i))
			return err
		}
		if j := slices.Index(c.bases, strings.TrimSuffix(a.hint, "/")); j >= 0 && j != i {
			i = j
		} else {
			i = (i + 1) % n
		}
	}
	return err
}

// notLeaderHint reads a not_leader answer's leader URL; ok says it was
// such an answer.
func notLeaderHint(code int, data []byte) (leader string, ok bool) {
	var eb errorBody
	if code != http.StatusServiceUnavailable || json.Unmarshal(data, &eb) != nil || eb.Kind != kindNotLeader {
		return "", false
	}
	return eb.Leader, true
}

// Close closes the client's idle connections. Open Watch streams end
// with their contexts.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Power implements rack.Manager. A request whose answer is lost after it
// was sent (connection reset, PowerTimeout, ctx ending) and the rack
// manager's own indeterminate answer wrap bmc.ErrIndeterminate: the
// action may have happened. A request refused or never sent is a plain
// error naming why, wrapping ErrForbidden, ErrRateLimited, ErrBadRequest,
// rack.ErrUnknownServer, bmc.ErrUnsupported or bmc.ErrUnreachable as fits.
func (c *Client) Power(ctx context.Context, server string, action bmc.PowerAction) error {
	name, ok := actionName(action)
	if !ok {
		return fmt.Errorf("rackhttp: power %q: unknown action %v", server, action)
	}
	body, _ := json.Marshal(powerRequest{Server: server, Action: name})
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PowerTimeout)
	defer cancel()
	return c.onLeader(ctx, func(base string) (attempt, error) { return c.powerAt(ctx, base, name, server, body) })
}

// powerAt sends one power request to base.
func (c *Client) powerAt(ctx context.Context, base, name, server string, body []byte) (attempt, error) {
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) }, // from here the request may be acted on
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/power", bytes.NewReader(body))
	if err != nil {
		return attempt{}, fmt.Errorf("rackhttp: power %s %q: %w", name, server, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if refusedHandshake(err) {
			return attempt{}, fmt.Errorf("rackhttp: power %s %q: not done, the rack manager refused the TLS handshake: %w: %w", name, server, ErrUnauthenticated, err)
		}
		if wrote.Load() {
			return attempt{}, fmt.Errorf("rackhttp: power %s %q: sent, answer lost: %w: %w", name, server, bmc.ErrIndeterminate, err)
		}
		if ctx.Err() != nil {
			return attempt{}, fmt.Errorf("rackhttp: power %s %q: not sent: %w", name, server, err)
		}
		return attempt{retry: true}, fmt.Errorf("rackhttp: power %s %q: not sent: %w: %w", name, server, bmc.ErrUnreachable, err)
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		var ans powerAnswer
		if readErr != nil || json.Unmarshal(data, &ans) != nil || ans.Outcome != "confirmed" {
			// 200 is the rack manager's word that the action was confirmed;
			// a mangled body after it casts doubt on that word.
			return attempt{}, fmt.Errorf("rackhttp: power %s %q: answer 200 unreadable (%q): %w", name, server, truncate(data), bmc.ErrIndeterminate)
		}
		return attempt{}, nil
	}
	err = fmt.Errorf("rackhttp: power %s %q: %w", name, server, answerError(resp.StatusCode, data, true))
	if leader, ok := notLeaderHint(resp.StatusCode, data); ok {
		return attempt{retry: true, hint: leader}, err
	}
	return attempt{}, err
}

// answerError turns an error answer into an error wrapping the sentinel
// of its kind. For a power request (power true), an answer that is not
// the rack manager's (a proxy's 502, say) is indeterminate: the request
// may have reached it.
func answerError(code int, data []byte, power bool) error {
	var eb errorBody
	if err := json.Unmarshal(data, &eb); err != nil || eb.Kind == "" {
		if power && code >= 500 {
			return fmt.Errorf("%w: HTTP %d from something other than the rack manager: %q", bmc.ErrIndeterminate, code, truncate(data))
		}
		return fmt.Errorf("%w: HTTP %d: %q", ErrProtocol, code, truncate(data))
	}
	var sentinel error
	switch eb.Kind {
	case kindIndeterminate:
		sentinel = bmc.ErrIndeterminate
	case kindUnauthenticated:
		sentinel = ErrUnauthenticated
	case kindForbidden:
		sentinel = ErrForbidden
	case kindRateLimited:
		sentinel = ErrRateLimited
	case kindTooLarge, kindMalformed, kindMethod, kindNotFound:
		sentinel = ErrBadRequest
	case kindUnknownServer:
		sentinel = rack.ErrUnknownServer
	case kindUnsupported:
		sentinel = bmc.ErrUnsupported
	case kindUnreachable:
		sentinel = bmc.ErrUnreachable
	case kindNotLeader:
		sentinel = rack.ErrNotLeader
	default:
		return fmt.Errorf("refused (HTTP %d, %s): %s", code, eb.Kind, eb.Error)
	}
	return fmt.Errorf("%w (HTTP %d): %s", sentinel, code, eb.Error)
}

// refusedHandshake reports whether err is a TLS alert from the rack
// manager: with TLS 1.3 it refuses a client certificate after the client
// has sent its request, which it then never reads.
func refusedHandshake(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// Rack returns the rack manager's read-only view (GET /v1/rack) with the
// last 10 journal statuses per server.
func (c *Client) Rack(ctx context.Context) (RackView, error) { return c.RackJournal(ctx, 10) }

// RackJournal is Rack with the last n journal statuses per server
// (0..MaxJournal).
func (c *Client) RackJournal(ctx context.Context, n int) (RackView, error) {
	var v RackView
	err := c.onLeader(ctx, func(base string) (attempt, error) {
		var a attempt
		var err error
		v, a, err = c.rackAt(ctx, base, n)
		return a, err
	})
	return v, err
}

func (c *Client) rackAt(ctx context.Context, base string, n int) (RackView, attempt, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1/rack?n=%d", base, n), nil)
	if err != nil {
		return RackView{}, attempt{}, fmt.Errorf("rackhttp: rack view: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if refusedHandshake(err) {
			return RackView{}, attempt{}, fmt.Errorf("rackhttp: rack view: the rack manager refused the TLS handshake: %w: %w", ErrUnauthenticated, err)
		}
		return RackView{}, attempt{retry: true}, fmt.Errorf("rackhttp: rack view: %w: %w", bmc.ErrUnreachable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return RackView{}, attempt{}, fmt.Errorf("rackhttp: rack view: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("rackhttp: rack view: %w", answerError(resp.StatusCode, data, false))
		if leader, ok := notLeaderHint(resp.StatusCode, data); ok {
			return RackView{}, attempt{retry: true, hint: leader}, err
		}
		return RackView{}, attempt{}, err
	}
	var v RackView
	if err := json.Unmarshal(data, &v); err != nil {
		return RackView{}, attempt{}, fmt.Errorf("rackhttp: rack view: %w: %w", ErrProtocol, err)
	}
	return v, attempt{}, nil
}

// backoff returns the delay before reconnect attempt (0 first): uniform
// in [0, min(MaxBackoff, Backoff*2^attempt)].
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := c.cfg.Backoff
	for range attempt {
		if ceiling >= c.cfg.MaxBackoff/2 {
			ceiling = c.cfg.MaxBackoff
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, c.cfg.MaxBackoff)
	return time.Duration(c.rand(int64(ceiling) + 1))
}
