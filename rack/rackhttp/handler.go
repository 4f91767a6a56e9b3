package rackhttp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/rack"
)

// HandlerConfig configures the rack manager's HTTP side.
type HandlerConfig struct {
	// Local is the rack manager served. Required.
	Local *rack.Local
	// Topology gives the names that may connect and what they may do.
	// Required; normally Local.Topology().
	Topology rack.Topology
	// Operators are certificate names allowed only the read-only view
	// (GET /v1/rack). May be empty. A name both here and in the topology
	// is a server.
	Operators []string
	// Audit receives one record per power request: who asked, server,
	// action, outcome, duration; refused ones too. Default: Logger.
	Audit *slog.Logger
	// Logger receives refused requests and stream ends. Default
	// slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body. Default 4096: a power request
	// is under 100 bytes.
	MaxBodyBytes int64
	// RequestsPerSecond is the token bucket's rate per identity, with a
	// burst of twice as many. Default 20 (burst 40): a monitor makes a
	// few requests a minute; a reconnect loop is slowed, not the rack
	// manager.
	RequestsPerSecond float64
	// Heartbeat is how often an idle stream gets an SSE comment. Default
	// 1 s: well inside the Client's default StallAfter of 3 s.
	Heartbeat time.Duration
	// IdleTimeout: a stream whose client does not read for this long
	// (its writes block: the connection's buffers are full) is closed.
	// Default 30 s. crypto/tls then gives its close alert up to 5 s more
	// before the connection is released.
	IdleTimeout time.Duration
	// OnEvent receives each event a monitor reports (POST /v1/events),
	// from its own goroutine per request; nil drops them. Optional.
	OnEvent func(failover.Event)
	// PowerTimeout bounds one power operation. Default: Local's
	// LocalConfig.PowerTimeout (60 s by default).
	PowerTimeout time.Duration
	// Leadership, when set, makes this Handler one replica of several:
	// while it does not lead, every request is answered 503 not_leader
	// naming the leader, and open streams end within Heartbeat of losing
	// the lead. Nil: a single rack manager, always serving. Optional.
	Leadership Leadership
}

// Leadership is what a replica's Handler asks before each request;
// rack/rackelect's Elector implements it. Safe for concurrent use.
type Leadership interface {
	// IsLeader reports whether this replica leads now.
	IsLeader() bool
	// Leader returns the leading replica's URL, if known.
	Leader() (url string, ok bool)
}

// DefaultHandlerConfig returns the defaults documented on HandlerConfig,
// without Local and Topology. Audit and Logger are slog.Default() and
// PowerTimeout 0 (Local's).
func DefaultHandlerConfig() HandlerConfig {
	return HandlerConfig{
		Logger:            slog.Default(),
		MaxBodyBytes:      4096,
		RequestsPerSecond: 20,
		Heartbeat:         time.Second,
		IdleTimeout:       30 * time.Second,
	}
}

// Validate names the first field that is wrong.
func (c HandlerConfig) Validate() error {
	switch {
	case c.Local == nil:
		return fmt.Errorf("%w: HandlerConfig.Local is nil", rack.ErrInvalidConfig)
	case len(c.Topology.Servers()) == 0:
		return fmt.Errorf("%w: HandlerConfig.Topology has no servers", rack.ErrInvalidConfig)
	case c.Logger == nil:
		return fmt.Errorf("%w: HandlerConfig.Logger is nil", rack.ErrInvalidConfig)
	case c.Audit == nil:
		return fmt.Errorf("%w: HandlerConfig.Audit is nil", rack.ErrInvalidConfig)
	case c.MaxBodyBytes < 64:
		return fmt.Errorf("%w: HandlerConfig.MaxBodyBytes %d must be at least 64", rack.ErrInvalidConfig, c.MaxBodyBytes)
	case !(c.RequestsPerSecond > 0):
		return fmt.Errorf("%w: HandlerConfig.RequestsPerSecond %v must be positive", rack.ErrInvalidConfig, c.RequestsPerSecond)
	case c.Heartbeat <= 0:
		return fmt.Errorf("%w: HandlerConfig.Heartbeat %v must be positive", rack.ErrInvalidConfig, c.Heartbeat)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("%w: HandlerConfig.IdleTimeout %v must be positive", rack.ErrInvalidConfig, c.IdleTimeout)
	case c.PowerTimeout <= 0:
		return fmt.Errorf("%w: HandlerConfig.PowerTimeout %v must be positive", rack.ErrInvalidConfig, c.PowerTimeout)
	}
	for i, op := range c.Operators {
		if op == "" {
			return fmt.Errorf("%w: HandlerConfig.Operators[%d] is empty", rack.ErrInvalidConfig, i)
		}
	}
	local := c.Local.Topology()
	for _, s := range c.Topology.Servers() {
		if c.Local.Journal(s) == nil {
			return fmt.Errorf("%w: HandlerConfig.Topology server %q is not a server of Local", rack.ErrInvalidConfig, s)
		}
		if w, lw := c.Topology.WatcherOf(s), local.WatcherOf(s); w != lw {
			return fmt.Errorf("%w: HandlerConfig.Topology has %q watch %q, Local's topology %q", rack.ErrInvalidConfig, w, s, lw)
		}
	}
	return nil
}

// Handler serves a rack.Local; see the package doc. Safe for concurrent
// use.
type Handler struct {
	cfg     HandlerConfig
	servers map[string]bool
	ops     map[string]bool
	limits  *limiter

	closing   chan struct{} // closed by CloseStreams
	closeOnce sync.Once
}

// CloseStreams ends every open status stream, and every later one at
// once, so that http.Server.Shutdown, which waits for handlers to end,
// can finish (NewServer registers it with RegisterOnShutdown). Clients
// reconnect, to the next rack manager process.
func (h *Handler) CloseStreams() { h.closeOnce.Do(func() { close(h.closing) }) }

// NewHandler fills cfg's unset fields (zero values) with their defaults,
// checks it and returns the handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	def := DefaultHandlerConfig()
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Audit == nil {
		cfg.Audit = cfg.Logger
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = def.MaxBodyBytes
	}
	if cfg.RequestsPerSecond == 0 {
		cfg.RequestsPerSecond = def.RequestsPerSecond
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = def.Heartbeat
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.PowerTimeout == 0 && cfg.Local != nil {
		cfg.PowerTimeout = cfg.Local.Config().PowerTimeout
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, servers: map[string]bool{}, ops: map[string]bool{}, closing: make(chan struct{})}
	for _, s := range cfg.Topology.Servers() {
		h.servers[s] = true
	}
	for _, op := range cfg.Operators {
		h.ops[op] = true
	}
	h.limits = newLimiter(cfg.RequestsPerSecond, 2*cfg.RequestsPerSecond, time.Now)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(context.WithValue(r.Context(), startKey{}, time.Now()))
	var route func(http.ResponseWriter, *http.Request, string)
	method := http.MethodGet
	switch r.URL.Path {
	case "/v1/watch":
		route = h.watch
	case "/v1/power":
		route, method = h.power, http.MethodPost
	case "/v1/rack":
		route = h.rackView
	case "/v1/events":
		route, method = h.reportEvent, http.MethodPost
	default:
		writeError(w, http.StatusNotFound, kindNotFound, fmt.Sprintf("no resource %q: want /v1/watch, /v1/power, /v1/events or /v1/rack", r.URL.Path))
		return
	}
	peer, ok := h.identify(w, r)
	if !ok {
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeError(w, http.StatusMethodNotAllowed, kindMethod, fmt.Sprintf("%s %s: want %s", r.Method, r.URL.Path, method))
		return
	}
	if r.URL.Path != "/v1/rack" && !h.servers[peer] {
		h.refuse(w, r, peer, http.StatusForbidden, kindForbidden, fmt.Sprintf("%q is an operator: only GET /v1/rack", peer))
		return
	}
	if !h.leads() {
		h.notLeader(w, r, peer)
		return
	}
	route(w, r, peer)
}

// identify returns the caller's name after checking that it is known and
// within its rate; otherwise it answers the request.
func (h *Handler) identify(w http.ResponseWriter, r *http.Request) (string, bool) {
	peer, err := PeerName(r)
	if err != nil {
		h.refuse(w, r, "", http.StatusUnauthorized, kindUnauthenticated, err.Error())
		return "", false
	}
	if !h.servers[peer] && !h.ops[peer] {
		h.refuse(w, r, peer, http.StatusForbidden, kindForbidden,
			fmt.Sprintf("certificate name %q is neither a server of the topology nor an operator", peer))
		return "", false
	}
	if wait, ok := h.limits.allow(peer); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait/time.Second)+1))
		h.refuse(w, r, peer, http.StatusTooManyRequests, kindRateLimited,
			fmt.Sprintf("%q is over %v requests per second", peer, h.cfg.RequestsPerSecond))
		return "", false
	}
	return peer, true
}

// refuse answers an error and logs it; a refused power request (before
// its server and action are known) goes to the audit log too.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, peer string, code int, kind, msg string) {
	h.cfg.Logger.Warn("rackhttp: request refused", "peer", peer, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "status", code, "reason", msg)
	if r.URL.Path == "/v1/power" {
		h.cfg.Audit.LogAttrs(r.Context(), slog.LevelWarn, "rackhttp: power",
			slog.String("who", peer), slog.String("remote", r.RemoteAddr), slog.String("server", ""), slog.String("action", ""),
			slog.String("outcome", "refused"), slog.Int("status", code), slog.String("err", msg),
			slog.Duration("duration", time.Since(started(r))))
	}
	writeError(w, code, kind, msg)
}

func (h *Handler) leads() bool { return h.cfg.Leadership == nil || h.cfg.Leadership.IsLeader() }

// notLeader answers 503 not_leader with the leader's URL: this replica
// did nothing, and the client may try the leader at once.
func (h *Handler) notLeader(w http.ResponseWriter, r *http.Request, peer string) {
	leader, _ := h.cfg.Leadership.Leader()
	msg := "this rack manager replica does not lead; no leader known yet"
	if leader != "" {
		msg = "this rack manager replica does not lead; the leader is " + leader
	}
	h.cfg.Logger.Info("rackhttp: not the leader", "peer", peer, "path", r.URL.Path, "leader", leader)
	if r.URL.Path == "/v1/power" {
		h.cfg.Audit.LogAttrs(r.Context(), slog.LevelWarn, "rackhttp: power",
			slog.String("who", peer), slog.String("remote", r.RemoteAddr), slog.String("server", ""), slog.String("action", ""),
			slog.String("outcome", "refused"), slog.Int("status", http.StatusServiceUnavailable), slog.String("err", msg),
			slog.Duration("duration", time.Since(started(r))))
	}
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: msg, Kind: kindNotLeader, Leader: leader})
}

// startKey is the request context key of its arrival time.
type startKey struct{}

func started(r *http.Request) time.Time {
	if t, ok := r.Context().Value(startKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

// PeerName returns the identity of a request: the verified client
// certificate's first DNS SAN, else its Common Name. Without a verified
// client certificate, or with one naming nobody, it returns an error
// wrapping ErrUnauthenticated (the Handler answers 401).
func PeerName(r *http.Request) (string, error) {
	if r.TLS == nil {
		return "", fmt.Errorf("%w: not a TLS connection", ErrUnauthenticated)
	}
	if len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", fmt.Errorf("%w: the connection has no verified client certificate", ErrUnauthenticated)
	}
	name := certName(r.TLS.VerifiedChains[0][0])
	if name == "" {
		return "", fmt.Errorf("%w: the client certificate names nobody", ErrUnauthenticated)
	}
	return name, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "encoding the answer: " + err.Error(), Kind: kindFailed})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, kind, msg string) {
	writeJSON(w, code, errorBody{Error: msg, Kind: kind})
}
