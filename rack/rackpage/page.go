package rackpage

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackhttp"
)

//go:embed assets
var assets embed.FS

// ErrInvalidConfig marks a Config that Validate refuses.
var ErrInvalidConfig = errors.New("rackpage: invalid config")

// Config configures a Page.
type Config struct {
	// Local is the rack manager shown. Required.
	Local *rack.Local
	// Images lists the VMs and their owners; nil: no VM list.
	Images imagestore.Store
	// MonitorEvents says Record is fed every monitor's events, so that a
	// server without any is shown watching. False: phases are shown only
	// once reported.
	MonitorEvents bool
	// Operators are certificate names let in besides the topology's
	// servers. May be empty.
	Operators []string
	// Token, when not empty, lets a request in without a client
	// certificate (see the package doc). At least 16 bytes. Never logged.
	Token []byte
	// Interval is how often the streams send the state while nothing
	// happens (each poll changes the journals). Default 500 ms: a poll
	// shows within a second.
	Interval time.Duration
	// History is how many full polls each sparkline shows. Default 30,
	// at most rack.LocalConfig.JournalSize are kept.
	History int
	// Events is how many monitor events are kept and shown. Default 50.
	Events int
	// Logger receives refused requests (never a token). Default
	// slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config, without Local.
func DefaultConfig() Config {
	return Config{Interval: 500 * time.Millisecond, History: 30, Events: 50, Logger: slog.Default()}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Local == nil:
		return fmt.Errorf("%w: Config.Local is nil", ErrInvalidConfig)
	case len(c.Token) > 0 && len(c.Token) < 16:
		return fmt.Errorf("%w: Config.Token is %d bytes: want at least 16", ErrInvalidConfig, len(c.Token))
	case c.Interval < 100*time.Millisecond:
		return fmt.Errorf("%w: Config.Interval %v: want at least 100ms", ErrInvalidConfig, c.Interval)
	case c.History < 1 || c.History > 1000:
		return fmt.Errorf("%w: Config.History %d: want 1 to 1000", ErrInvalidConfig, c.History)
	case c.Events < 1 || c.Events > 10000:
		return fmt.Errorf("%w: Config.Events %d: want 1 to 10000", ErrInvalidConfig, c.Events)
	case c.Logger == nil:
		return fmt.Errorf("%w: Config.Logger is nil", ErrInvalidConfig)
	}
	for i, op := range c.Operators {
		if op == "" {
			return fmt.Errorf("%w: Config.Operators[%d] is empty", ErrInvalidConfig, i)
		}
	}
	return nil
}

// ReadToken reads an operator token from path: its content without
// surrounding white space. The error names the file, never the content.
func ReadToken(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rackpage: operator token: %w", err)
	}
	tok := []byte(strings.TrimSpace(string(b)))
	if len(tok) < 16 {
		return nil, fmt.Errorf("%w: operator token file %s holds %d bytes: want at least 16", ErrInvalidConfig, path, len(tok))
	}
	return tok, nil
}

// Page serves the live page; see the package doc.
type Page struct {
	cfg     Config
	allowed map[string]bool
	token   [32]byte // SHA-256 of Config.Token
	static  http.Handler

	mu     sync.Mutex
	phases map[string]phase
	events []EventState
	wakeup chan struct{} // closed and replaced at each Record
}

// New fills cfg's unset fields (zero values) with their defaults, checks
// it and returns the page.
func New(cfg Config) (*Page, error) {
	def := DefaultConfig()
	if cfg.Interval == 0 {
		cfg.Interval = def.Interval
	}
	if cfg.History == 0 {
		cfg.History = def.History
	}
	if cfg.Events == 0 {
		cfg.Events = def.Events
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	p := &Page{cfg: cfg, allowed: map[string]bool{}, static: http.FileServerFS(sub),
		phases: map[string]phase{}, wakeup: make(chan struct{})}
	for _, s := range cfg.Local.Topology().Servers() {
		p.allowed[s] = true
	}
	for _, op := range cfg.Operators {
		p.allowed[op] = true
	}
	if len(cfg.Token) > 0 {
		p.token = sha256.Sum256(cfg.Token)
	}
	return p, nil
}

// tokenCookie carries the operator token for the page's own requests.
const tokenCookie = "failover_page_token"

// ServeHTTP implements http.Handler. Mount it at a path of its own with
// http.StripPrefix; it serves "/", "/state" (JSON), "/stream" (SSE) and
// its assets.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, fmt.Sprintf("%s: the page is read-only (GET, HEAD)", r.Method), http.StatusMethodNotAllowed)
		return
	}
	if _, ok := p.authorize(w, r); !ok {
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	switch strings.TrimPrefix(r.URL.Path, "/") {
	case "state":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(p.snapshot(r.Context()))
	case "stream":
		p.stream(w, r)
	case "", "index.html", "page.js", "page.css":
		w.Header().Set("Cache-Control", "no-cache")
		p.static.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Guard returns h behind the page's access rules (a client certificate
// of a server or operator, or the operator token; GET and HEAD only): to
// serve /metrics beside the page, say.
func (p *Page) Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, fmt.Sprintf("%s: read-only (GET, HEAD)", r.Method), http.StatusMethodNotAllowed)
			return
		}
		if _, ok := p.authorize(w, r); ok {
			h.ServeHTTP(w, r)
		}
	})
}

// authorize returns who the request is (a certificate name, or
// "operator-token"), or answers 401.
func (p *Page) authorize(w http.ResponseWriter, r *http.Request) (string, bool) {
	if name, err := rackhttp.PeerName(r); err == nil {
		if p.allowed[name] {
			return name, true
		}
		p.refuse(w, r, fmt.Sprintf("certificate name %q is neither a server nor an operator", name))
		return "", false
	}
	if len(p.cfg.Token) > 0 {
		if q := r.URL.Query().Get("token"); q != "" {
			if !p.tokenOK(q) {
				p.refuse(w, r, "wrong operator token in the URL")
				return "", false
			}
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: q, Path: "/", HttpOnly: true,
				Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
			u := *r.URL
			qs := u.Query()
			qs.Del("token")
			u.RawQuery = qs.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return "", false
		}
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && p.tokenOK(tok) {
			return "operator-token", true
		}
		if c, err := r.Cookie(tokenCookie); err == nil && p.tokenOK(c.Value) {
			return "operator-token", true
		}
	}
	p.refuse(w, r, "no client certificate of a server or operator, and no valid operator token")
	return "", false
}

// tokenOK compares in constant time (over the hashes: the length leaks
// nothing either).
func (p *Page) tokenOK(tok string) bool {
	h := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(h[:], p.token[:]) == 1
}

func (p *Page) refuse(w http.ResponseWriter, r *http.Request, reason string) {
	p.cfg.Logger.Warn("rackpage: request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", reason)
	w.Header().Set("WWW-Authenticate", `Bearer realm="failover rack page"`)
	http.Error(w, "unauthorized: "+reason, http.StatusUnauthorized)
}

// wake tells every stream something happened.
func (p *Page) wake() {
	p.mu.Lock()
	close(p.wakeup)
	p.wakeup = make(chan struct{})
	p.mu.Unlock()
}

func (p *Page) woken() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wakeup
}
