package rackhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
)

// auditRecords returns the audit log's records.
func (r *testRack) auditRecords() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(r.audit.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			r.t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func (r *testRack) wantAudit(who, server, action, outcome string) {
	r.t.Helper()
	for _, m := range r.auditRecords() {
		if m["who"] == who && m["server"] == server && m["action"] == action && m["outcome"] == outcome {
			if _, ok := m["duration"]; !ok {
				r.t.Errorf("audit record without duration: %v", m)
			}
			return
		}
	}
	r.t.Errorf("no audit record who=%s server=%s action=%s outcome=%s in:\n%s", who, server, action, outcome, r.audit.String())
}

// TestPowerAuthorized: s1 watches s2 and fences it; the BMC really turns
// s2 off, and the audit log says who, what and the outcome.
func TestPowerAuthorized(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	if err := r.client("s1").Power(t.Context(), "s2", bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	if p := r.bmcs["s2"].HostPower(); p != bmc.PowerOff {
		t.Fatalf("s2's power is %v after the fence, want off", p)
	}
	r.wantAudit("s1", "s2", bmc.PowerActionOff.String(), "confirmed")
}

// TestPowerRefused: in a ring s1 watches s2 only; it may not fence s3
// (403 with a reason, audited), nor itself, and s3 keeps its power.
func TestPowerRefused(t *testing.T) {
	r := newTestRack(t, rackOpts{servers: []string{"s1", "s2", "s3"}, ring: true})
	c := r.client("s1")
	for _, target := range []string{"s3", "s1", "nosuch"} {
		err := c.Power(t.Context(), target, bmc.PowerActionOff)
		if !errors.Is(err, ErrForbidden) || errors.Is(err, bmc.ErrIndeterminate) {
			t.Fatalf("s1 fencing %s: %v, want ErrForbidden", target, err)
		}
		if !strings.Contains(err.Error(), "may not power") {
			t.Errorf("refusal does not say why: %v", err)
		}
		r.wantAudit("s1", target, bmc.PowerActionOff.String(), "refused")
	}
	if p := r.bmcs["s3"].HostPower(); p != bmc.PowerOn {
		t.Fatalf("s3's power is %v after a refused fence, want on", p)
	}
	if err := r.client("operator").Power(t.Context(), "s2", bmc.PowerActionOff); !errors.Is(err, ErrForbidden) {
		t.Fatalf("operator's fence: %v, want ErrForbidden", err)
	}
}

// TestPowerLostInFlight: the rack manager reads the request and carries
// it out, but the connection drops before the answer: the client reports
// bmc.ErrIndeterminate, never a plain failure.
func TestPowerLostInFlight(t *testing.T) {
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path != "/v1/power" {
				h.ServeHTTP(w, req)
				return
			}
			h.ServeHTTP(httptest.NewRecorder(), req) // done, answer thrown away
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
		})
	}
	r := newTestRack(t, rackOpts{wrap: wrap})
	err := r.client("s1").Power(t.Context(), "s2", bmc.PowerActionOff)
	if !errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("answer lost: %v, want bmc.ErrIndeterminate", err)
	}
	if p := r.bmcs["s2"].HostPower(); p != bmc.PowerOff {
		t.Fatalf("s2's power is %v; the test wanted the fence done and its answer lost", p)
	}
	r.wantAudit("s1", "s2", bmc.PowerActionOff.String(), "confirmed")
}

// TestPowerTimeoutIndeterminate: a power answer slower than the client's
// PowerTimeout is indeterminate; the rack manager still finishes and
// audits the operation.
func TestPowerTimeoutIndeterminate(t *testing.T) {
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/v1/power" {
				time.Sleep(500 * time.Millisecond)
			}
			h.ServeHTTP(w, req)
		})
	}
	r := newTestRack(t, rackOpts{wrap: wrap})
	c := r.client("s1", func(c *ClientConfig) { c.PowerTimeout = 200 * time.Millisecond })
	err := c.Power(t.Context(), "s2", bmc.PowerActionOff)
	if !errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("timed out: %v, want bmc.ErrIndeterminate", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for r.bmcs["s2"].HostPower() != bmc.PowerOff {
		if time.Now().After(deadline) {
			t.Fatal("the rack manager did not finish the fence after the client gave up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPowerIndeterminateAnswer: the rack manager's own indeterminate
// answer (the BMC took the command but never confirmed it) reaches the
// client as bmc.ErrIndeterminate.
func TestPowerIndeterminateAnswer(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	c := r.client("s1")
	r.bmcs["s2"].FailPowerApplied(fmt.Errorf("%w: read-back lost", bmc.ErrIndeterminate))
	err := c.Power(t.Context(), "s2", bmc.PowerActionOff)
	if !errors.Is(err, bmc.ErrIndeterminate) || !strings.Contains(err.Error(), "read-back lost") {
		t.Fatalf("%v, want bmc.ErrIndeterminate with the BMC's reason", err)
	}
	r.wantAudit("s1", "s2", bmc.PowerActionOff.String(), kindIndeterminate)
	// A plain refusal by the BMC stays plain.
	r.bmcs["s2"].FailPower(errors.New("BMC busy"))
	err = c.Power(t.Context(), "s2", bmc.PowerActionOn)
	if err == nil || errors.Is(err, bmc.ErrIndeterminate) || !strings.Contains(err.Error(), "BMC busy") {
		t.Fatalf("%v, want a plain error naming the BMC's reason", err)
	}
}

// rawPost sends body as s1 to /v1/power and returns the status and the
// decoded error body.
func rawPost(t *testing.T, c *Client, body []byte) (int, errorBody) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.bases[0]+"/v1/power", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var eb errorBody
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(data, &eb); err != nil {
			t.Fatalf("HTTP %d body %q is not a JSON error: %v", resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, eb
}

// TestOversizedBody: a body over MaxBodyBytes gets 413 with a JSON error
// naming the limit, and the rack manager serves the next request.
func TestOversizedBody(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	c := r.client("s1")
	big := []byte(`{"server":"s2","action":"off","pad":"` + strings.Repeat("x", 10000) + `"}`)
	code, eb := rawPost(t, c, big)
	if code != http.StatusRequestEntityTooLarge || eb.Kind != kindTooLarge || !strings.Contains(eb.Error, "4096 bytes") {
		t.Fatalf("oversized body: HTTP %d %+v, want 413 naming 4096 bytes", code, eb)
	}
	if p := r.bmcs["s2"].HostPower(); p != bmc.PowerOn {
		t.Fatalf("s2's power %v after an oversized request", p)
	}
	if err := c.Power(t.Context(), "s2", bmc.PowerActionOff); err != nil {
		t.Fatalf("next request after the oversized one: %v", err)
	}
}

// TestMalformedRequests: each bad body gets 400 with a JSON error naming
// what was wrong; nothing is powered, and the daemon keeps serving.
func TestMalformedRequests(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	c := r.client("s1")
	for _, tc := range []struct{ body, want string }{
		{``, "empty body"},
		{`{"server":"s2","action":"off"`, "unexpected EOF"},
		{`{"server":"s2","action":"explode"}`, `action "explode"`},
		{`{"action":"off"}`, "server is empty"},
		{`{"server":"s2","action":"off","force":true}`, `unknown field "force"`},
		{`{"server":"s2","action":"off"} {}`, "after the JSON object"},
		{`["s2","off"]`, "cannot unmarshal array"},
		{`{"server":2,"action":"off"}`, "cannot unmarshal number"},
	} {
		code, eb := rawPost(t, c, []byte(tc.body))
		if code != http.StatusBadRequest || eb.Kind != kindMalformed || !strings.Contains(eb.Error, tc.want) {
			t.Errorf("body %q: HTTP %d %+v, want 400 naming %q", tc.body, code, eb, tc.want)
		}
	}
	if p := r.bmcs["s2"].HostPower(); p != bmc.PowerOn {
		t.Fatalf("s2's power %v after malformed requests", p)
	}
	r.wantAudit("s1", "", "", "refused")
	if err := c.Power(t.Context(), "s2", bmc.PowerActionCycle); err != nil {
		t.Fatalf("a good request after the bad ones: %v", err)
	}
}

// TestRateLimit: past the burst an identity gets 429 (ErrRateLimited,
// not indeterminate), while another identity is still served.
func TestRateLimit(t *testing.T) {
	r := newTestRack(t, rackOpts{handler: func(c *HandlerConfig) { c.RequestsPerSecond = 2 }})
	c := r.client("s1")
	var limited error
	for i := 0; i < 10 && limited == nil; i++ {
		if _, err := c.Rack(t.Context()); errors.Is(err, ErrRateLimited) {
			limited = err
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if limited == nil {
		t.Fatal("10 requests at once with a burst of 4 were all served")
	}
	err := c.Power(t.Context(), "s2", bmc.PowerActionOff)
	if !errors.Is(err, ErrRateLimited) || errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("power over the rate: %v, want ErrRateLimited", err)
	}
	if _, err := r.client("s2").Rack(t.Context()); err != nil {
		t.Fatalf("another identity: %v", err)
	}
}

// TestRackView: operators and servers read each server's latest status,
// watcher and journal; the journal is bounded.
func TestRackView(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	for range 3 {
		r.local.Poll(t.Context())
	}
	v, err := r.client("operator").RackJournal(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Servers) != 2 || v.Servers[0].Name != "s1" || v.Servers[0].Watcher != "s2" || v.Servers[0].Latest == nil {
		t.Fatalf("view %+v", v)
	}
	if n := len(v.Servers[1].Journal); n != 2 {
		t.Errorf("journal of %d statuses, want 2", n)
	}
	if len(v.Servers[1].Latest.Readings) == 0 {
		t.Error("latest status without readings")
	}
	if _, err := r.client("s2").Rack(t.Context()); err != nil {
		t.Fatalf("a server reading the view: %v", err)
	}
	if _, err := r.client("operator").RackJournal(t.Context(), 61); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("n=61: %v, want ErrBadRequest", err)
	}
}

// TestPowerNotSent: a rack manager that cannot be reached never got the
// request: a plain error wrapping bmc.ErrUnreachable, not indeterminate.
func TestPowerNotSent(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	r.server.Close()
	err := r.client("s1").Power(t.Context(), "s2", bmc.PowerActionOff)
	if !errors.Is(err, bmc.ErrUnreachable) || errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("%v, want bmc.ErrUnreachable and not indeterminate", err)
	}
}

// TestConfigValidation: bad configurations are refused naming the field.
func TestConfigValidation(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	ring3, err := rack.Ring("s1", "s2", "s3")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*HandlerConfig)
		want string
	}{
		{func(c *HandlerConfig) { c.Local = nil }, "HandlerConfig.Local"},
		{func(c *HandlerConfig) { c.Topology = rack.Topology{} }, "HandlerConfig.Topology"},
		{func(c *HandlerConfig) { c.Topology = ring3 }, `"s3"`},
		{func(c *HandlerConfig) { c.MaxBodyBytes = 10 }, "HandlerConfig.MaxBodyBytes 10"},
		{func(c *HandlerConfig) { c.RequestsPerSecond = -1 }, "HandlerConfig.RequestsPerSecond -1"},
		{func(c *HandlerConfig) { c.Heartbeat = -time.Second }, "HandlerConfig.Heartbeat"},
		{func(c *HandlerConfig) { c.Operators = []string{""} }, "HandlerConfig.Operators[0]"},
	} {
		cfg := DefaultHandlerConfig()
		cfg.Local, cfg.Topology = r.local, r.local.Topology()
		tc.edit(&cfg)
		if _, err := NewHandler(cfg); !errors.Is(err, rack.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewHandler: %v, want ErrInvalidConfig naming %s", err, tc.want)
		}
	}
	cc := DefaultClientConfig()
	for _, tc := range []struct {
		edit func(*ClientConfig)
		want string
	}{
		{func(c *ClientConfig) { c.URL = "" }, "ClientConfig.URL is empty"},
		{func(c *ClientConfig) { c.URL = "http://rm:7443" }, "want https://host:port"},
		{func(c *ClientConfig) { c.TLS = nil }, "ClientConfig.TLS is nil"},
		{func(c *ClientConfig) { c.TLS.MinVersion = 0 }, "TLS 1.3"},
		{func(c *ClientConfig) { c.MaxBackoff = time.Millisecond }, "ClientConfig.MaxBackoff"},
		{func(c *ClientConfig) { c.MaxEventBytes = 10 }, "ClientConfig.MaxEventBytes 10"},
	} {
		cfg := cc
		cfg.URL, cfg.TLS = "https://rm:7443", ClientTLS(r.ca.files(t, "s1"), "rack-manager")
		tc.edit(&cfg)
		if _, err := NewClient(cfg); !errors.Is(err, rack.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewClient: %v, want ErrInvalidConfig naming %s", err, tc.want)
		}
	}
}
