package redfishbmc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/stmcginnis/gofish/schemas"

	"github.com/rackha/failover/bmc"
)

// defaultSessions is where the SessionService's sessions live when the
// service root names no Links.Sessions.
const defaultSessions = "/redfish/v1/SessionService/Sessions"

// login opens a session (unless BasicAuth or no Username): it posts the
// credentials to the service root's Links.Sessions, takes the
// X-Auth-Token and the session's Location, and checks that both links
// stay on this service. The adapter does this itself, not gofish, so no
// link the service supplies can send the password or the token elsewhere.
// The caller holds loginMu or is Open.
func (b *conn) login(ctx context.Context) error {
	if !b.usesSession() {
		b.mu.Lock()
		b.gen++
		b.mu.Unlock()
		return nil
	}
	var root struct {
		Links struct{ Sessions *odataRef }
	}
	if err := b.rawJSON(ctx, http.MethodGet, "/redfish/v1/", nil, &root, nil); err != nil {
		return err
	}
	sessions := defaultSessions
	if root.Links.Sessions != nil && root.Links.Sessions.ID != "" {
		p, err := b.link(root.Links.Sessions.ID)
		if err != nil {
			return fmt.Errorf("log in: service root Links.Sessions: %w", err)
		}
		sessions = p
	}
	creds, err := json.Marshal(map[string]string{"UserName": b.cfg.Username, "Password": b.password()})
	if err != nil {
		return fmt.Errorf("%w: log in: %v", bmc.ErrMalformed, err)
	}
	var sess odataRef
	var hdr http.Header
	if err := b.rawJSON(ctx, http.MethodPost, sessions, creds, &sess, &hdr); err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	tok := hdr.Get("X-Auth-Token")
	if tok == "" {
		return fmt.Errorf("%w: log in: POST %s answered no X-Auth-Token", bmc.ErrMalformed, sessions)
	}
	loc := firstOf(hdr.Get("Location"), sess.ID)
	if loc == "" {
		return fmt.Errorf("%w: log in: POST %s answered no Location: the session could not be deleted", bmc.ErrMalformed, sessions)
	}
	where, err := b.link(loc)
	if err != nil {
		// The token is never sent there, not even to delete the session.
		return fmt.Errorf("log in: session Location: %w", err)
	}
	b.mu.Lock()
	b.setToken(tok)
	b.session = where
	b.gen++
	b.mu.Unlock()
	return nil
}

// relogin opens a new session after the service refused the token,
// unless another caller already did since generation gen or the adapter
// is closed.
func (b *BMC) relogin(ctx context.Context, gen int) error {
	b.loginMu.Lock()
	defer b.loginMu.Unlock()
	if b.isClosed() || b.done {
		return fmt.Errorf("%w: adapter closed", bmc.ErrUnreachable)
	}
	b.mu.RLock()
	cur := b.gen
	b.mu.RUnlock()
	if cur != gen {
		return nil
	}
	b.cfg.Logger.Info("redfishbmc: session refused, logging in again", "endpoint", b.cfg.Endpoint)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	// The refused session is deleted first: a BMC that refused a token
	// once (under load, a restart of its web server) may still count the
	// session, and BMCs that allow few sessions lock out when they leak.
	// An expired one answers 401 or 404, which is what we expect.
	b.mu.Lock()
	old := b.session
	b.session = ""
	b.mu.Unlock()
	if old != "" {
		if err := b.rawJSON(ctx, http.MethodDelete, old, nil, &struct{}{}, nil); err != nil {
			b.cfg.Logger.Debug("redfishbmc: old session not deleted", "endpoint", b.cfg.Endpoint, "err", err)
		}
	}
	return b.login(ctx)
}

// rawJSON sends one request with the adapter's client (no retry, no
// relogin) and decodes a JSON answer into v; hdr, when not nil, receives
// the answer's headers. HTTP errors are classified as gofish's are.
func (b *conn) rawJSON(ctx context.Context, method, p string, body []byte, v any, hdr *http.Header) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+p, rd)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", bmc.ErrMalformed, method, p, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		// The credentials go on a connection of their own, dropped after
		// the answer, so no pooled buffer keeps them.
		req.Close = true
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return classify(method, p, b.scrub(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return classify(method, p, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return classify(method, p, b.scrub(schemas.ConstructError(resp.StatusCode, data)))
	}
	if hdr != nil {
		*hdr = resp.Header
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s %s: %v", bmc.ErrMalformed, method, p, err)
	}
	return nil
}

// scrub keeps the password out of an error built from what the service
// answered (a hostile service may echo it back).
func (b *conn) scrub(err error) error {
	pw := b.password()
	if err == nil || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	if e, ok := err.(*schemas.Error); ok {
		c := *e
		c.Message = strings.ReplaceAll(c.Message, pw, "[redacted]")
		c.ExtendedInfos = nil
		return &c
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), pw, "[redacted]"))
}

// Close stops the adapter's event streams and, when it is the last
// adapter on its session (see OpenSystem), logs out, deleting the
// session. A relogin in flight is waited for, so its session is deleted
// too. It is safe to call more than once.
func (b *BMC) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.bgMu.Lock()
		close(b.closed) // cancels a background log read
		b.bgMu.Unlock()
		b.bg.Wait()
		err = b.conn.release()
	})
	return err
}

// release drops one adapter's hold; the last one logs out.
func (b *conn) release() error {
	b.loginMu.Lock() // no login runs now, and after the last none will: relogin sees done
	defer b.loginMu.Unlock()
	if b.refs--; b.refs > 0 {
		return nil
	}
	b.done = true
	b.mu.Lock()
	where := b.session
	b.session = ""
	b.mu.Unlock()
	var err error
	if where != "" {
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.RequestTimeout)
		err = b.rawJSON(ctx, http.MethodDelete, where, nil, &struct{}{}, nil)
		cancel()
		if err != nil {
			err = fmt.Errorf("log out: %w", err)
		}
	}
	b.setToken("")
	b.hc.CloseIdleConnections()
	return err
}
