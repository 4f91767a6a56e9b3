package rackpage_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackpage"
)

const token = "0123456789abcdef-operator"

var quiet = slog.New(slog.DiscardHandler)

// newLocal is a rack.Local over n simbmc servers in a ring.
func newLocal(t testing.TB, n int) (*rack.Local, map[string]*simbmc.BMC) {
	t.Helper()
	var names []string
	for i := range n {
		names = append(names, "s"+itoa(i+1))
	}
	topo, err := rack.Ring(names...)
	if n == 2 {
		topo, err = rack.Pairs(names...)
	}
	if err != nil {
		t.Fatal(err)
	}
	lc := rack.DefaultLocalConfig()
	lc.Topology, lc.Logger, lc.FastInterval = topo, quiet, -1
	bmcs := map[string]*simbmc.BMC{}
	for _, name := range names {
		b, err := simbmc.New(simbmc.DefaultConfig(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		bmcs[name] = b
		lc.Servers = append(lc.Servers, rack.Server{Name: name, Sensors: b, Health: b, Watchdog: b, Power: b})
	}
	l, err := rack.NewLocal(lc)
	if err != nil {
		t.Fatal(err)
	}
	return l, bmcs
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func newPage(t testing.TB, cfg rackpage.Config) *rackpage.Page {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	p, err := rackpage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// Without a certificate, only the operator token lets a request in: as a
// bearer token, or once in the URL, which sets a cookie and redirects
// to the URL without it. Power actions do not exist: POST is refused.
func TestAccessNeedsTheOperatorToken(t *testing.T) {
	l, _ := newLocal(t, 2)
	srv := httptest.NewServer(newPage(t, rackpage.Config{Local: l, Token: []byte(token)}))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		name string
		path string
		hdr  []string
		want int
	}{
		{"nothing", "/state", nil, 401},
		{"wrong bearer", "/state", []string{"Authorization", "Bearer " + token + "x"}, 401},
		{"short bearer", "/state", []string{"Authorization", "Bearer 0123"}, 401},
		{"bearer", "/state", []string{"Authorization", "Bearer " + token}, 200},
		{"wrong cookie", "/", []string{"Cookie", "failover_page_token=nope"}, 401},
		{"cookie", "/page.js", []string{"Cookie", "failover_page_token=" + token}, 200},
		{"wrong token in URL", "/?token=nope", nil, 401},
		{"token in URL", "/?token=" + token + "&x=1", nil, 303},
		{"unknown path", "/v1/power", []string{"Authorization", "Bearer " + token}, 404},
	} {
		resp := get(t, noRedirect, srv.URL+c.path, c.hdr...)
		if resp.StatusCode != c.want {
			t.Errorf("%s: GET %s = %d, want %d", c.name, c.path, resp.StatusCode, c.want)
		}
		if c.want == 303 {
			if loc := resp.Header.Get("Location"); loc != "/?x=1" {
				t.Errorf("%s: redirected to %q, want /?x=1", c.name, loc)
			}
			var set bool
			for _, ck := range resp.Cookies() {
				set = set || (ck.Name == "failover_page_token" && ck.Value == token && ck.HttpOnly && ck.SameSite == http.SameSiteStrictMode)
			}
			if !set {
				t.Errorf("%s: no HttpOnly SameSite=Strict token cookie set: %v", c.name, resp.Header["Set-Cookie"])
			}
		}
		if c.want == 401 && strings.Contains(readAll(t, resp), token) {
			t.Errorf("%s: the answer shows the token", c.name)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/state", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", resp.StatusCode)
	}
	// No token configured: nobody without a certificate gets in.
	srv2 := httptest.NewServer(newPage(t, rackpage.Config{Local: l}))
	defer srv2.Close()
	if resp := get(t, http.DefaultClient, srv2.URL+"/state", "Authorization", "Bearer "+token); resp.StatusCode != 401 {
		t.Errorf("no token configured: bearer GET = %d, want 401", resp.StatusCode)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text())
	}
	return b.String()
}

func TestConfigRefusals(t *testing.T) {
	l, _ := newLocal(t, 2)
	for _, c := range []struct {
		cfg  rackpage.Config
		want string
	}{
		{rackpage.Config{}, "Config.Local"},
		{rackpage.Config{Local: l, Token: []byte("short")}, "Config.Token is 5 bytes"},
		{rackpage.Config{Local: l, Interval: time.Millisecond}, "Config.Interval 1ms"},
		{rackpage.Config{Local: l, Operators: []string{""}}, "Config.Operators[0]"},
	} {
		_, err := rackpage.New(c.cfg)
		if !errors.Is(err, rackpage.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig naming %q", c.cfg, err, c.want)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte("tiny-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := rackpage.ReadToken(path)
	if !errors.Is(err, rackpage.ErrInvalidConfig) || strings.Contains(err.Error(), "tiny-secret") {
		t.Errorf("ReadToken of a short token = %v, want ErrInvalidConfig not showing it", err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := rackpage.ReadToken(path); err != nil || string(tok) != token {
		t.Errorf("ReadToken = %q, %v", tok, err)
	}
}

// The stream sends the state at once, and again after a poll and after
// an event: a BMC gone unreachable, the phase from the event, the
// readings' history, the VMs from the store.
func TestStreamFollowsPollsAndEvents(t *testing.T) {
	l, bmcs := newLocal(t, 2)
	store := memstore.New()
	ctx := context.Background()
	for _, vm := range []string{"vm-a", "vm-b"} {
		if _, err := store.Put(ctx, imagestore.Image{Name: vm, Owner: "s1"}); err != nil {
			t.Fatal(err)
		}
	}
	p := newPage(t, rackpage.Config{Local: l, Images: store, MonitorEvents: true, Token: []byte(token), Interval: 100 * time.Millisecond})
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close) // after the stream's body is closed (cleanups run last first)
	l.Poll(ctx)
	l.Poll(ctx)
	resp := get(t, http.DefaultClient, srv.URL+"/stream", "Authorization", "Bearer "+token)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream Content-Type %q", ct)
	}
	states := make(chan rackpage.State, 100)
	// The reader outlives the test (its body closes in a cleanup, which
	// may cut a last line short), so it reports to wait, never to t.
	bad := make(chan error, 1)
	go func() {
		defer close(states)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var st rackpage.State
				if err := json.Unmarshal([]byte(d), &st); err != nil {
					bad <- fmt.Errorf("stream data is not a State: %v", err)
					return
				}
				states <- st
			}
		}
	}()
	wait := func(what string, ok func(rackpage.State) bool) rackpage.State {
		t.Helper()
		deadline := time.After(3 * time.Second)
		for {
			select {
			case err := <-bad:
				t.Fatal(err)
			case st, open := <-states:
				if !open {
					select {
					case err := <-bad:
						t.Fatal(err)
					default:
					}
					t.Fatalf("stream ended waiting for %s", what)
				}
				if ok(st) {
					return st
				}
			case <-deadline:
				t.Fatalf("no state with %s within 3 s", what)
			}
		}
	}
	first := wait("both servers polled", func(st rackpage.State) bool {
		return len(st.Servers) == 2 && st.Servers[0].Polled && st.Servers[1].Polled
	})
	s1 := first.Servers[0]
	if s1.Name != "s1" || s1.Watcher != "s2" || !s1.Reachable || s1.Power != "on" || s1.Phase != "watching" || len(s1.Readings) == 0 {
		t.Fatalf("s1 = %+v", s1)
	}
	if h := s1.Readings[0].History; len(h) != 2 || h[0] == nil {
		t.Errorf("s1 %s history %v, want two values", s1.Readings[0].Name, h)
	}
	if len(first.VMs) != 2 || first.VMs[0].Owner != "s1" {
		t.Errorf("VMs %+v", first.VMs)
	}
	bmcs["s1"].SetUnreachable(true)
	l.Poll(ctx)
	wait("s1 unreachable", func(st rackpage.State) bool { return !st.Servers[0].Reachable && st.Servers[0].Err != "" })
	p.Record(failover.Event{Time: time.Now(), Type: failover.EventDetected, Server: "s1", Peer: "s2", Cause: failover.CauseBMCUnreachable})
	st := wait("s1 fencing", func(st rackpage.State) bool { return st.Servers[0].Phase == "fencing" })
	if len(st.Events) != 1 || st.Events[0].Type != "detected" || st.Events[0].Server != "s1" {
		t.Errorf("events %+v", st.Events)
	}
}
