package redfishbmc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

// elsewhere is a server that must never be reached: it records every
// request and whether it carried a credential.
type elsewhere struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		e.mu.Lock()
		e.requests = append(e.requests, r.Method+" "+r.URL.Path+" token="+r.Header.Get("X-Auth-Token")+" auth="+r.Header.Get("Authorization")+" body="+string(body))
		e.mu.Unlock()
		w.Header().Set("X-Auth-Token", "elsewhere-token")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(e.Close)
	return e
}

// hostPort is the elsewhere server's port on the sim's host.
func (e *elsewhere) port() string { u, _ := url.Parse(e.URL); return u.Port() }

func (e *elsewhere) check(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.requests) > 0 {
		t.Fatalf("%d request(s) reached another server: %q", len(e.requests), e.requests)
	}
}

// offOriginCases names the ways of offOrigin.
var offOriginCases = []string{"other port", "other host", "plain http", "scheme-relative", "userinfo trick", "credentials in URL", "relative path"}

// offOrigin lists links that leave the sim's origin, each a different way.
func offOrigin(s *redfishsim.Server, e *elsewhere, p string) map[string]string {
	u, _ := url.Parse(s.URL)
	return map[string]string{
		"other port":         "https://" + u.Hostname() + ":" + e.port() + p,
		"other host":         "https://localhost:" + e.port() + p,
		"plain http":         "http://" + u.Host + p,
		"scheme-relative":    "//" + u.Hostname() + ":" + e.port() + p,
		"userinfo trick":     "@localhost:" + e.port() + p,
		"credentials in URL": "https://x:y@" + u.Host + p,
		"relative path":      strings.TrimPrefix(p, "/"),
	}
}

func wantRefusedLink(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, bmc.ErrMalformed) || !strings.Contains(err.Error(), what) || !strings.Contains(err.Error(), "link") {
		t.Fatalf("err = %v, want ErrMalformed refusing the link in %s", err, what)
	}
	if strings.Contains(err.Error(), testPass) {
		t.Fatal("error holds the password")
	}
}

// Links.Sessions pointing off the service: the password is posted nowhere.
func TestHostileSessionsLinkOffOrigin(t *testing.T) {
	dir := mockup(t, "public-tower")
	for _, name := range offOriginCases {
		t.Run(name, func(t *testing.T) {
			s := startSim(t, dir, redfishsim.Options{})
			e := newElsewhere(t)
			link := offOrigin(s, e, "/redfish/v1/SessionService/Sessions")[name]
			if err := s.Set("/redfish/v1", map[string]any{"Links": map[string]any{"Sessions": map[string]any{"@odata.id": link}}}); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(s, "")
			cfg.AllowHTTP = true // even then, not for an https endpoint
			_, err := Open(ctxT(t, 5*time.Second), cfg)
			wantRefusedLink(t, err, "Links.Sessions")
			e.check(t)
			if n := s.Count("POST", "/redfish/v1/SessionService/Sessions"); n != 0 {
				t.Fatalf("%d logins posted", n)
			}
		})
	}
}

// A login answer whose Location leaves the service: the session is
// refused, and the token never goes there (no DELETE at Close).
func TestHostileLoginLocationOffOrigin(t *testing.T) {
	dir := mockup(t, "public-tower")
	for _, name := range offOriginCases {
		t.Run(name, func(t *testing.T) {
			s := startSim(t, dir, redfishsim.Options{})
			e := newElsewhere(t)
			s.SetLoginLocation(offOrigin(s, e, "/redfish/v1/SessionService/Sessions/1")[name])
			cfg := testConfig(s, "")
			cfg.AllowHTTP = true
			b, err := Open(ctxT(t, 5*time.Second), cfg)
			if b != nil {
				_ = b.Close()
			}
			wantRefusedLink(t, err, "session Location")
			e.check(t)
		})
	}
}

// Every @odata.id followed stays on the service.
func TestHostileODataIDOffOrigin(t *testing.T) {
	dir := mockup(t, "public-tower")
	for _, name := range offOriginCases {
		t.Run(name, func(t *testing.T) {
			s := startSim(t, dir, redfishsim.Options{})
			e := newElsewhere(t)
			link := offOrigin(s, e, "/redfish/v1/Systems/"+towerSys)[name]
			s.Put("/redfish/v1/Systems", map[string]any{"@odata.id": "/redfish/v1/Systems",
				"Members": []any{map[string]any{"@odata.id": link}}})
			cfg := testConfig(s, "")
			cfg.AllowHTTP = true
			_, err := Open(ctxT(t, 5*time.Second), cfg)
			wantRefusedLink(t, err, "Systems/"+towerSys)
			e.check(t)
		})
	}
}

// An action target off the service: no reset is posted anywhere, and
// the fence is not reported done.
func TestHostileResetTargetOffOrigin(t *testing.T) {
	dir := mockup(t, "public-tower")
	sysPath := "/redfish/v1/Systems/" + towerSys
	for _, name := range offOriginCases {
		t.Run(name, func(t *testing.T) {
			s := startSim(t, dir, redfishsim.Options{})
			e := newElsewhere(t)
			cfg := testConfig(s, "")
			cfg.AllowHTTP = true
			b := open(t, cfg)
			target := offOrigin(s, e, sysPath+"/Actions/ComputerSystem.Reset")[name]
			if err := s.Set(sysPath, map[string]any{"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{"target": target}}}); err != nil {
				t.Fatal(err)
			}
			err := b.SetPower(ctxT(t, 5*time.Second), bmc.PowerActionOff)
			wantRefusedLink(t, err, "ComputerSystem.Reset")
			e.check(t)
			if sys, _ := s.Get(sysPath); sys["PowerState"] != "On" {
				t.Fatalf("PowerState %v", sys["PowerState"])
			}
		})
	}
}

// An SSE URI off the service: no stream is opened there.
func TestHostileSSEURIOffOrigin(t *testing.T) {
	dir := mockup(t, "public-tower")
	for _, name := range offOriginCases {
		t.Run(name, func(t *testing.T) {
			s := startSim(t, dir, redfishsim.Options{})
			e := newElsewhere(t)
			if err := s.Set("/redfish/v1/EventService", map[string]any{"ServerSentEventUri": offOrigin(s, e, "/redfish/v1/EventService/SSE")[name]}); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(s, "")
			cfg.AllowHTTP = true
			cfg.ReconnectMin = 10 * time.Millisecond
			b := open(t, cfg)
			_, _, err := b.stream(ctxT(t, 5*time.Second), offOrigin(s, e, "/redfish/v1/EventService/SSE")[name], make(chan bmc.Event, 1), nil, &streamState{}, make(chan struct{}, 1))
			wantRefusedLink(t, err, "EventService/SSE")
			ctx, cancel := context.WithCancel(context.Background())
			if _, err := b.Events(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			cancel()
			e.check(t)
			if n := s.Count("GET", s.SSEURI()); n != 0 {
				t.Fatalf("%d streams opened", n)
			}
		})
	}
}

// The transport itself refuses any request off the endpoint's origin,
// whatever built it.
func TestTransportRefusesOffOrigin(t *testing.T) {
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{})
	e := newElsewhere(t)
	b := open(t, testConfig(s, ""))
	links := offOrigin(s, e, "/redfish/v1/")
	for _, name := range offOriginCases {
		if links[name] == "" {
			t.Fatalf("offOriginCases names %q, which offOrigin lacks", name)
		}
	}
	if len(links) != len(offOriginCases) {
		t.Fatalf("offOrigin has %d ways, offOriginCases names %d", len(links), len(offOriginCases))
	}
	for name, link := range links {
		u, err := url.Parse(link)
		if err != nil || u.Host == "" {
			continue // not an absolute URL: nothing a transport sees
		}
		req, _ := http.NewRequestWithContext(ctxT(t, 5*time.Second), http.MethodGet, link, nil)
		resp, err := b.hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, errOffOrigin) {
			t.Errorf("%s: err = %v, want errOffOrigin", name, err)
		}
	}
	e.check(t)
}

// Close while a relogin is in flight: the session that relogin opens is
// deleted too, none is left on the BMC.
func TestCloseDuringReloginLeavesNoSession(t *testing.T) {
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{})
	b, err := Open(ctxT(t, 5*time.Second), testConfig(s, ""))
	if err != nil {
		t.Fatal(err)
	}
	s.ExpireSessions()
	sessions := "/redfish/v1/SessionService/Sessions"
	s.Inject(redfishsim.Fault{Path: sessions, Method: "POST", Latency: 300 * time.Millisecond, Times: 1})
	done := make(chan error, 1)
	go func() {
		_, err := b.Health(context.Background())
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Count("POST", sessions) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no relogin started")
		}
		time.Sleep(time.Millisecond)
	}
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-done
	if n := s.Sessions(); n != 0 {
		t.Fatalf("%d session(s) left on the BMC after Close", n)
	}
}
