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
type BMC struct {
	cfg  Config
	hc   *http.Client
	host string // endpoint host:port, for same-host link checks

	loginMu sync.Mutex // one relogin at a time
	mu      sync.RWMutex
	api     *gofish.APIClient
	gen     int // login generation: relogin replaces api once per expiry

	sys systemInfo // the system served, resolved at Open

	planMu sync.Mutex
	plan   *readPlan

	evMu    sync.Mutex
	pending []bmc.Event // events since the last Health call

	closeOnce sync.Once
	closed    chan struct{}
}

// Open checks cfg, logs in and resolves cfg.System. The caller must
// Close the adapter to log out.
func Open(ctx context.Context, cfg Config) (*BMC, error) {
	if cfg.Logger == nil {
		cfg.Logger = DefaultConfig().Logger
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hc, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	b := &BMC{cfg: cfg, hc: hc, host: hostOf(cfg.Endpoint), closed: make(chan struct{})}
	if err := b.login(ctx); err != nil {
		return nil, err
	}
	systems, err := b.listSystems(ctx)
	if err == nil {
		b.sys, err = pickSystem(systems, cfg.System)
	}
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// login (re)connects the gofish client: service root, then a session
// unless BasicAuth or no Username.
func (b *BMC) login(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	api, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
		Endpoint:              strings.TrimRight(b.cfg.Endpoint, "/"),
		Username:              b.cfg.Username,
		Password:              b.cfg.Password,
		BasicAuth:             b.cfg.BasicAuth,
		HTTPClient:            b.hc,
		NoModifyTransport:     true,
		ReuseConnections:      true,
		MaxConcurrentRequests: int64(b.cfg.MaxConcurrentRequests),
	})
	if err != nil {
		return classify("log in", "/redfish/v1/", err)
	}
	if b.cfg.Username != "" && !b.cfg.BasicAuth {
		if s, err := api.GetSession(); err != nil || s.Token == "" {
			return fmt.Errorf("%w: log in: the SessionService answered no X-Auth-Token", bmc.ErrMalformed)
		}
	}
	b.mu.Lock()
	b.api = api
	b.gen++
	b.mu.Unlock()
	return nil
}

// client returns the current gofish client bound to ctx, and its
// login generation.
func (b *BMC) client(ctx context.Context) (*gofish.APIClient, int, error) {
	select {
	case <-b.closed:
		return nil, 0, fmt.Errorf("%w: adapter closed", bmc.ErrUnreachable)
	default:
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.api.WithContext(ctx), b.gen, nil
}

// relogin opens a new session after the service refused the token,
// unless another caller already did since generation gen.
func (b *BMC) relogin(ctx context.Context, gen int) error {
	b.loginMu.Lock()
	defer b.loginMu.Unlock()
	b.mu.RLock()
	cur := b.gen
	b.mu.RUnlock()
	if cur != gen {
		return nil
	}
	b.cfg.Logger.Info("redfishbmc: session refused, logging in again", "endpoint", b.cfg.Endpoint)
	return b.login(ctx)
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
		if err == nil || attempt > 0 || b.cfg.Username == "" || b.cfg.BasicAuth || httpStatus(err) != http.StatusUnauthorized {
			return resp, err
		}
		if lerr := b.relogin(ctx, gen); lerr != nil {
			return nil, lerr
		}
	}
}

// link turns a link into a path on this service; links to other
// services are refused.
func (b *BMC) link(ref string) (string, error) {
	if i := strings.IndexByte(ref, '#'); i >= 0 {
		ref = ref[:i]
	}
	if strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "//") {
		return ref, nil
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host != b.host || u.Scheme != "https" && !b.cfg.AllowHTTP {
		return "", fmt.Errorf("%w: link %q points outside this service", bmc.ErrMalformed, trunc(ref))
	}
	return u.RequestURI(), nil
}

// getJSON fetches the resource at ref into v.
func (b *BMC) getJSON(ctx context.Context, ref string, v any) error {
	p, err := b.link(ref)
	if err != nil {
		return err
	}
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
	case errors.Is(err, errBodyTooLarge):
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

// Close logs out (deleting the session) and stops event streams. It is
// safe to call more than once.
func (b *BMC) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.closed)
		b.mu.RLock()
		api := b.api
		b.mu.RUnlock()
		if api == nil {
			return
		}
		if s, serr := api.GetSession(); serr == nil && s.ID != "" {
			ctx, cancel := context.WithTimeout(context.Background(), b.cfg.RequestTimeout)
			defer cancel()
			if derr := api.WithContext(ctx).GetService().DeleteSession(s.ID); derr != nil {
				err = classify("log out", s.ID, derr)
			}
		}
		b.hc.CloseIdleConnections()
	})
	return err
}

// String names the adapter without secrets.
func (b *BMC) String() string {
	return fmt.Sprintf("redfishbmc.BMC(%s system=%s)", b.cfg.Endpoint, b.sys.Path)
}

// GoString is String, so %#v shows no token.
func (b *BMC) GoString() string { return b.String() }

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
