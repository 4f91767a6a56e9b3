package redfishbmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"

	"github.com/rackha/failover/bmc"
)

// BMC is the adapter for one ComputerSystem. Create it with Open.
//
// A BMC value holds only a pointer: copies share one adapter, and no
// secret is reachable from it by reflection (the password and the
// session token live in closures; see session.go).
type BMC struct {
	*adapter
}

type adapter struct {
	*conn // shared with the adapters of other systems (OpenSystem)

	sys    systemInfo // the system served, resolved at Open
	single bool       // the service has this one system only

	planMu sync.Mutex
	plan   *readPlan

	evMu    sync.Mutex
	pending []bmc.Event // events since the last Health call

	wd           wdTracker       // a watchdog expiry the service reported
	logMu        sync.Mutex      // one log read at a time
	logNext      time.Time       // when the log may be read again
	logEntries   []string        // the system's LogEntry collections; nil: not looked up yet
	logSeen      map[string]bool // watchdog and correctable-ECC entries in the log at the last read; nil: no read yet
	logSkipNoted bool            // undecodable entries were logged once

	bgMu sync.Mutex     // orders a background log read's start with Close
	bg   sync.WaitGroup // the background log read (scanLogBehind)

	closeOnce sync.Once
	closed    chan struct{}
}

// conn is one service's client and session: every adapter opened on it
// (Open, then OpenSystem) uses this one session, so that the roles of
// all the systems of one BMC hold one session between them.
type conn struct {
	cfg    Config // Password always empty: see password
	hc     *http.Client
	origin origin // the endpoint's scheme, host and port
	base   string // the endpoint without a trailing slash: requests go to base + path
	api    *gofish.APIClient

	// password returns Config.Password; setToken sets the X-Auth-Token
	// the transport adds to requests of this service ("" none).
	password func() string
	setToken func(string)

	loginMu sync.Mutex // one login at a time; Close waits for it
	refs    int        // adapters open on this conn; under loginMu
	done    bool       // logged out for good; under loginMu
	mu      sync.RWMutex
	gen     int    // login generation: relogin opens one session per expiry
	session string // path of the open session, deleted at the last Close; "" none
}

// Open checks cfg, logs in and resolves cfg.System. The caller must
// Close the adapter to log out.
func Open(ctx context.Context, cfg Config) (*BMC, error) {
	b, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	systems, err := b.listSystems(ctx)
	if err == nil {
		b.sys, err = pickSystem(systems, cfg.System)
		b.single = len(systems) == 1
	}
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// OpenSystem opens an adapter for another ComputerSystem of the same
// service (its Id or @odata.id; "" needs a service of one system) on b's
// session: the blades of an enclosure then hold one session between
// them, where BMCs allow few (often 8). Each adapter must be closed; the
// session is deleted when the last one is.
func (b *BMC) OpenSystem(ctx context.Context, system string) (*BMC, error) {
	if b.isClosed() {
		return nil, fmt.Errorf("%w: adapter closed", bmc.ErrUnreachable)
	}
	c := b.conn
	c.loginMu.Lock()
	if c.done {
		c.loginMu.Unlock()
		return nil, fmt.Errorf("%w: adapter closed", bmc.ErrUnreachable)
	}
	c.refs++
	c.loginMu.Unlock()
	nb := &BMC{&adapter{conn: c, closed: make(chan struct{})}}
	systems, err := nb.listSystems(ctx)
	if err == nil {
		nb.sys, err = pickSystem(systems, system)
		nb.single = len(systems) == 1
	}
	if err != nil {
		_ = nb.Close()
		return nil, err
	}
	return nb, nil
}

// connect validates cfg, builds the client and logs in.
func connect(ctx context.Context, cfg Config) (*BMC, error) {
	if cfg.Logger == nil {
		cfg.Logger = DefaultConfig().Logger
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o, err := originOf(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	password, token := cfg.Password, ""
	var tokMu sync.Mutex
	authorize := func(r *http.Request) {
		tokMu.Lock()
		tok := token
		tokMu.Unlock()
		switch {
		case tok != "":
			r.Header.Set("X-Auth-Token", tok)
		case cfg.BasicAuth:
			r.SetBasicAuth(cfg.Username, password)
		}
	}
	hc, err := newHTTPClient(cfg, o, authorize)
	if err != nil {
		return nil, err
	}
	cfg.Password = ""
	b := &BMC{&adapter{conn: &conn{
		cfg: cfg, hc: hc, origin: o, base: strings.TrimRight(cfg.Endpoint, "/"), refs: 1,
		password: func() string { return password },
		setToken: func(t string) { tokMu.Lock(); token = t; tokMu.Unlock() },
	}, closed: make(chan struct{})}}
	cctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	if err := b.login(cctx); err != nil {
		return nil, err
	}
	// gofish holds no credentials: the transport authorizes each request.
	api, err := gofish.ConnectContext(cctx, gofish.ClientConfig{
		Endpoint:              strings.TrimRight(cfg.Endpoint, "/"),
		HTTPClient:            hc,
		NoModifyTransport:     true,
		ReuseConnections:      true,
		MaxConcurrentRequests: int64(cfg.MaxConcurrentRequests),
	})
	if err != nil {
		_ = b.Close()
		return nil, classify("GET", "/redfish/v1/", err)
	}
	b.api = api
	return b, nil
}

// client returns the gofish client bound to ctx, and the login
// generation.
func (b *BMC) client(ctx context.Context) (*gofish.APIClient, int, error) {
	if b.isClosed() {
		return nil, 0, fmt.Errorf("%w: adapter closed", bmc.ErrUnreachable)
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.api.WithContext(ctx), b.gen, nil
}

// do runs one request; on a 401 with a session it logs in again once
// and retries.
func (b *BMC) do(ctx context.Context, f func(*gofish.APIClient) (*http.Response, error)) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		api, gen, err := b.client(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := f(api)
		if err == nil || attempt > 0 || !b.usesSession() || httpStatus(err) != http.StatusUnauthorized {
			return resp, err
		}
		if lerr := b.relogin(ctx, gen); lerr != nil {
			return nil, lerr
		}
	}
}

func (b *conn) usesSession() bool { return b.cfg.Username != "" && !b.cfg.BasicAuth }

// getJSON fetches the resource at ref into v.
func (b *BMC) getJSON(ctx context.Context, ref string, v any) error {
	p, err := b.link(ref)
	if err != nil {
		return err
	}
	return b.getPath(ctx, p, v)
}

// getJSONQuery is getJSON for a link that may carry a query (paging).
func (b *BMC) getJSONQuery(ctx context.Context, ref string, v any) error {
	p, err := b.origin.linkQuery(ref)
	if err != nil {
		return err
	}
	return b.getPath(ctx, p, v)
}

// getPath fetches the checked path p into v.
func (b *BMC) getPath(ctx context.Context, p string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	resp, err := b.do(ctx, func(api *gofish.APIClient) (*http.Response, error) { return api.Get(p) })
	if err != nil {
		return classify("GET", p, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return classify("GET", p, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: GET %s: %v", bmc.ErrMalformed, p, err)
	}
	return nil
}

// httpStatus returns the HTTP status of a gofish error, or 0.
func httpStatus(err error) int {
	var e *schemas.Error
	if errors.As(err, &e) {
		return e.HTTPReturnedStatusCode
	}
	return 0
}

// classify wraps err once in the bmc sentinel that says what happened.
func classify(op, p string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, bmc.ErrUnreachable) || errors.Is(err, bmc.ErrMalformed) || errors.Is(err, bmc.ErrInsecure) ||
		errors.Is(err, bmc.ErrIndeterminate) || errors.Is(err, bmc.ErrUnsupported) {
		return err
	}
	switch code := httpStatus(err); {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%w: %s %s: access refused (HTTP %d)", bmc.ErrUnreachable, op, p, code)
	case code >= 500:
		return fmt.Errorf("%w: %s %s: HTTP %d: %s", bmc.ErrUnreachable, op, p, code, trunc(errMessage(err)))
	case code != 0:
		return fmt.Errorf("%w: %s %s: HTTP %d: %s", bmc.ErrMalformed, op, p, code, trunc(errMessage(err)))
	}
	switch {
	case errors.Is(err, errCrossRedirect), errors.Is(err, errTooManyRedirec), isTLSTrustError(err):
		return fmt.Errorf("%w: %s %s: %v", bmc.ErrInsecure, op, p, err)
	case errors.Is(err, errBodyTooLarge), strings.Contains(err.Error(), errBodyTooLarge.Error()): // gofish keeps only the text of an error body it could not read
		return fmt.Errorf("%w: %s %s: %v", bmc.ErrMalformed, op, p, err)
	case isSyntaxError(err):
		return fmt.Errorf("%w: %s %s: %v", bmc.ErrMalformed, op, p, err)
	}
	return fmt.Errorf("%w: %s %s: %v", bmc.ErrUnreachable, op, p, err)
}

func isSyntaxError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) && !isNetError(err)
}

func isNetError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}

func errMessage(err error) string {
	var e *schemas.Error
	if errors.As(err, &e) {
		if len(e.ExtendedInfos) > 0 && e.ExtendedInfos[0].Message != "" {
			return e.ExtendedInfos[0].Message
		}
		return e.Message
	}
	return err.Error()
}

// trunc keeps BMC-supplied text in errors short.
func trunc(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// sleep waits d or until ctx ends or the adapter closes.
func (b *BMC) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.closed:
		return fmt.Errorf("%w: adapter closed", bmc.ErrUnreachable)
	}
}

func (b *BMC) isClosed() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}
