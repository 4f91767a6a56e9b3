package redfishsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const mini = "../testdata/mini"

func start(t *testing.T, opts Options) (*Server, *http.Client) {
	t.Helper()
	s, err := New(mini, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, s.Client()
}

func do(t *testing.T, c *http.Client, method, url, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp, m
}

func TestNotAMockup(t *testing.T) {
	if _, err := New(t.TempDir(), Options{}); err == nil {
		t.Fatal("an empty folder was accepted")
	}
}

func TestSessionsAndAuth(t *testing.T) {
	s, c := start(t, Options{Username: "u", Password: "p"})
	if r, _ := do(t, c, "GET", s.URL+"/redfish/v1/", "", nil); r.StatusCode != 200 {
		t.Fatalf("service root needs no auth: %d", r.StatusCode)
	}
	if r, _ := do(t, c, "GET", s.URL+"/redfish/v1/Systems/1", "", nil); r.StatusCode != 401 {
		t.Fatalf("no token: %d", r.StatusCode)
	}
	if r, _ := do(t, c, "POST", s.URL+"/redfish/v1/SessionService/Sessions", "", map[string]any{"UserName": "u", "Password": "bad"}); r.StatusCode != 401 {
		t.Fatalf("bad password: %d", r.StatusCode)
	}
	r, _ := do(t, c, "POST", s.URL+"/redfish/v1/SessionService/Sessions", "", map[string]any{"UserName": "u", "Password": "p"})
	tok, loc := r.Header.Get("X-Auth-Token"), r.Header.Get("Location")
	if r.StatusCode != 201 || tok == "" || !strings.HasPrefix(loc, "/redfish/v1/SessionService/Sessions/") {
		t.Fatalf("login: %d %q %q", r.StatusCode, tok, loc)
	}
	if r, _ := do(t, c, "GET", s.URL+"/redfish/v1/Systems/1", tok, nil); r.StatusCode != 200 {
		t.Fatalf("with token: %d", r.StatusCode)
	}
	if r, m := do(t, c, "GET", s.URL+"/redfish/v1/SessionService/Sessions", tok, nil); r.StatusCode != 200 || len(m["Members"].([]any)) != 1 {
		t.Fatalf("sessions collection: %v", m)
	}
	if r, _ := do(t, c, "DELETE", s.URL+loc, tok, nil); r.StatusCode != 204 {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if r, _ := do(t, c, "GET", s.URL+"/redfish/v1/Systems/1", tok, nil); r.StatusCode != 401 {
		t.Fatalf("token after logout: %d", r.StatusCode)
	}
	req, _ := http.NewRequest("GET", s.URL+"/redfish/v1/Systems/1", nil)
	req.SetBasicAuth("u", "p")
	if r, err := c.Do(req); err != nil || r.StatusCode != 401 {
		t.Fatalf("basic auth not allowed: %v %v", r.StatusCode, err)
	}
}

func TestPatchPostReset(t *testing.T) {
	s, c := start(t, Options{})
	if r, _ := do(t, c, "PATCH", s.URL+"/redfish/v1/Systems/1", "", map[string]any{"AssetTag": "A1", "Status": map[string]any{"Health": "Warning"}}); r.StatusCode != 204 {
		t.Fatalf("patch: %d", r.StatusCode)
	}
	_, m := do(t, c, "GET", s.URL+"/redfish/v1/Systems/1", "", nil)
	if diff := cmp.Diff(map[string]any{"State": "Enabled", "Health": "Warning", "HealthRollup": "OK"}, m["Status"]); diff != "" || m["AssetTag"] != "A1" {
		t.Fatalf("after patch (-want +got):\n%s %v", diff, m["AssetTag"])
	}
	r, m := do(t, c, "POST", s.URL+"/redfish/v1/Chassis", "", map[string]any{"Name": "new"})
	if r.StatusCode != 201 || r.Header.Get("Location") == "" || m["@odata.id"] != r.Header.Get("Location") {
		t.Fatalf("post: %d %v", r.StatusCode, m)
	}
	if _, m := do(t, c, "GET", s.URL+"/redfish/v1/Chassis", "", nil); len(m["Members"].([]any)) != 2 {
		t.Fatalf("collection after post: %v", m)
	}
	target := s.URL + "/redfish/v1/Systems/1/ComputerSystem.Reset"
	if r, _ := do(t, c, "POST", target, "", map[string]any{"ResetType": "Nmi"}); r.StatusCode != 400 {
		t.Fatalf("reset type not allowed: %d", r.StatusCode)
	}
	if r, _ := do(t, c, "POST", target, "", map[string]any{"ResetType": "ForceOff"}); r.StatusCode != 204 {
		t.Fatalf("ForceOff: %d", r.StatusCode)
	}
	_, m = do(t, c, "GET", s.URL+"/redfish/v1/Systems/1", "", nil)
	if m["PowerState"] != "Off" || m["Status"].(map[string]any)["State"] != "StandbyOffline" {
		t.Fatalf("after ForceOff: %v %v", m["PowerState"], m["Status"])
	}
	if r, _ := do(t, c, "POST", s.URL+"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", "", map[string]any{"ResetType": "On"}); r.StatusCode == 204 {
		t.Fatal("an unadvertised target was accepted")
	}
}

func TestSSEPublish(t *testing.T) {
	s, c := start(t, Options{EventsOnReset: true})
	resp, err := c.Get(s.URL + s.SSEURI())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	for s.Streams() != 1 {
		time.Sleep(time.Millisecond)
	}
	do(t, c, "POST", s.URL+"/redfish/v1/Systems/1/ComputerSystem.Reset", "", map[string]any{"ResetType": "ForceOff"})
	sc := bufio.NewScanner(resp.Body)
	var data string
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = d
			break
		}
	}
	var ev struct {
		Events []struct {
			MessageID         string `json:"MessageId"`
			OriginOfCondition map[string]string
		}
	}
	if err := json.Unmarshal([]byte(data), &ev); err != nil || len(ev.Events) != 1 || ev.Events[0].OriginOfCondition["@odata.id"] != "/redfish/v1/Systems/1" {
		t.Fatalf("event %q: %v", data, err)
	}
}

func TestFaults(t *testing.T) {
	s, c := start(t, Options{})
	url := s.URL + "/redfish/v1/Systems/1"
	s.Inject(Fault{Path: "/redfish/v1/Systems", Status: 503, Times: 1})
	if r, _ := do(t, c, "GET", url, "", nil); r.StatusCode != 503 {
		t.Fatalf("5xx: %d", r.StatusCode)
	}
	if r, m := do(t, c, "GET", url, "", nil); r.StatusCode != 200 || m["Id"] != "1" {
		t.Fatalf("Times 1 should be used up: %d", r.StatusCode)
	}
	s.Inject(Fault{Malformed: true, Times: 1})
	r, _ := c.Get(url)
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if json.Valid(b) {
		t.Fatalf("malformed fault served valid JSON %q", b)
	}
	s.Inject(Fault{Drop: true}) // every time: net/http retries a GET once on a reused connection
	if _, err := c.Get(url); err == nil {
		t.Fatal("dropped connection gave an answer")
	}
	s.ClearFaults()
	s.Inject(Fault{Oversize: 100000, Times: 1})
	r, _ = c.Get(url)
	b, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if len(b) != 100000 || !json.Valid(b) {
		t.Fatalf("oversize: %d bytes, valid %v", len(b), json.Valid(b))
	}
	s.Inject(Fault{Latency: 100 * time.Millisecond, Times: 1})
	start := time.Now()
	do(t, c, "GET", url, "", nil)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("latency fault answered in %v", d)
	}
	if n := s.Count("GET", "/redfish/v1/Systems/1"); n < 6 {
		t.Fatalf("count %d, want at least 6", n)
	}
}

func TestMaxSessions(t *testing.T) {
	s, c := start(t, Options{Username: "u", Password: "p", MaxSessions: 2})
	login := func() *http.Response {
		r, _ := do(t, c, "POST", s.URL+"/redfish/v1/SessionService/Sessions", "", map[string]any{"UserName": "u", "Password": "p"})
		return r
	}
	first := login()
	if login().StatusCode != 201 {
		t.Fatal("second login refused")
	}
	r, m := do(t, c, "POST", s.URL+"/redfish/v1/SessionService/Sessions", "", map[string]any{"UserName": "u", "Password": "p"})
	if r.StatusCode != 503 || !strings.Contains(fmt.Sprint(m), "SessionLimitExceeded") {
		t.Fatalf("third login: %d %v", r.StatusCode, m)
	}
	do(t, c, "DELETE", s.URL+first.Header.Get("Location"), first.Header.Get("X-Auth-Token"), nil)
	if login().StatusCode != 201 {
		t.Fatal("a login after a logout was refused")
	}
	if ok, refused := s.Logins(); ok != 3 || refused != 1 || s.Sessions() != 2 {
		t.Fatalf("logins %d refused %d sessions %d", ok, refused, s.Sessions())
	}
}

// openSSE opens the stream with the given Last-Event-ID and $filter.
func openSSE(t *testing.T, s *Server, c *http.Client, lastID, filter string) (*http.Response, *bufio.Reader) {
	t.Helper()
	u := s.URL + s.SSEURI()
	if filter != "" {
		u += "?$filter=" + url.QueryEscape(filter)
	}
	req, _ := http.NewRequest("GET", u, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

// frame reads one SSE frame (up to a blank line).
func frame(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", b.String(), err)
		}
		if line == "\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

func TestSSEReplayAndBufferExceeded(t *testing.T) {
	s, c := start(t, Options{EventHistory: 3})
	for i := range 5 {
		s.Publish(Event{Origin: "/redfish/v1/Systems/1", Message: fmt.Sprint("e", i+1)})
	}
	_, r := openSSE(t, s, c, "3", "")
	if f := frame(t, r); !strings.HasPrefix(f, "id: 4\n") {
		t.Fatalf("replay after 3 starts with %q", f)
	}
	if f := frame(t, r); !strings.HasPrefix(f, "id: 5\n") {
		t.Fatalf("then %q", f)
	}
	// The history holds 3..5: resuming after 1 lost 2.
	_, r = openSSE(t, s, c, "1", "")
	if f := frame(t, r); !strings.Contains(f, "EventBufferExceeded") || strings.Contains(f, "id:") {
		t.Fatalf("resuming past the history: %q, want an EventBufferExceeded without id", f)
	}
	if f := frame(t, r); !strings.HasPrefix(f, "id: 3\n") {
		t.Fatalf("then %q", f)
	}
	if c := s.Connects(); len(c) != 2 || c[0].LastEventID != "3" || c[1].LastEventID != "1" {
		t.Fatalf("connects %+v", c)
	}
}

func TestSSEFilter(t *testing.T) {
	s, c := start(t, Options{})
	if resp, _ := openSSE(t, s, c, "", "OriginResource eq '/redfish/v1/Systems/1'"); resp.StatusCode != 400 {
		t.Fatalf("$filter on a service without FilterQuery: %d", resp.StatusCode)
	}
	if err := s.Set(Root, map[string]any{"ProtocolFeaturesSupported": map[string]any{"FilterQuery": true}}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := openSSE(t, s, c, "", "EventType eq 'Alert'"); resp.StatusCode != 400 {
		t.Fatalf("an unsupported clause: %d", resp.StatusCode)
	}
	_, r := openSSE(t, s, c, "", "(OriginResource eq '/redfish/v1/Systems/1') or (OriginResource eq '/redfish/v1/Chassis/1')")
	for s.Streams() != 1 {
		time.Sleep(time.Millisecond)
	}
	s.Publish(Event{Origin: "/redfish/v1/Systems/2", Message: "no"})
	s.Publish(Event{Origin: "/redfish/v1/Chassis/1/Sensors/x", Message: "below"})
	s.Publish(Event{Message: "service-wide"})
	if f := frame(t, r); !strings.HasPrefix(f, "id: 2\n") || !strings.Contains(f, "below") {
		t.Fatalf("first filtered frame %q", f)
	}
	if f := frame(t, r); !strings.HasPrefix(f, "id: 3\n") {
		t.Fatalf("second filtered frame %q", f)
	}
	if got := s.Connects(); len(got) != 3 || !got[0].Refused || !got[1].Refused || got[2].Refused {
		t.Fatalf("connects %+v", got)
	}
}

func TestOverlayAndLog(t *testing.T) {
	s, c := start(t, Options{Overlays: []string{"../testdata/overlays/watchdog-mini"}})
	_, m := do(t, c, "GET", s.URL+"/redfish/v1/Systems/1", "", nil)
	if m["Name"] != "mini" || m["HostWatchdogTimer"] == nil || m["PowerState"] != "On" {
		t.Fatalf("overlaid system %v", m)
	}
	const entries = "/redfish/v1/Systems/1/LogServices/Log/Entries"
	p, err := s.AddLogEntry(entries, map[string]any{"MessageId": "X.1.0.Y"})
	if err != nil {
		t.Fatal(err)
	}
	if _, m := do(t, c, "GET", s.URL+entries, "", nil); len(m["Members"].([]any)) != 2 {
		t.Fatalf("entries after AddLogEntry: %v", m)
	}
	if _, m := do(t, c, "GET", s.URL+p, "", nil); m["MessageId"] != "X.1.0.Y" || m["Created"] == nil {
		t.Fatalf("entry %v", m)
	}
	if r, _ := do(t, c, "POST", s.URL+"/redfish/v1/Systems/1/LogServices/Log/Actions/LogService.ClearLog", "", map[string]any{}); r.StatusCode != 204 {
		t.Fatalf("ClearLog: %d", r.StatusCode)
	}
	if _, m := do(t, c, "GET", s.URL+entries, "", nil); len(m["Members"].([]any)) != 0 {
		t.Fatalf("entries after ClearLog: %v", m)
	}
	if r, _ := do(t, c, "GET", s.URL+p, "", nil); r.StatusCode != 404 {
		t.Fatalf("a cleared entry answers %d", r.StatusCode)
	}
	if _, err := New(mini, Options{Overlays: []string{t.TempDir()}}); err == nil {
		t.Fatal("an empty overlay was accepted")
	}
}

// A stream that lags loses events and is told so once it catches up.
func TestSSESlowStreamTold(t *testing.T) {
	s, c := start(t, Options{})
	_, r := openSSE(t, s, c, "", "")
	for s.Streams() != 1 {
		time.Sleep(time.Millisecond)
	}
	big := strings.Repeat("x", 32<<10) // fills the socket buffers so the server's writer blocks
	for range 4 * streamBuffer {
		s.Publish(Event{Origin: "/redfish/v1/Systems/1", Message: big})
	}
	for i := 0; ; i++ {
		f := frame(t, r)
		if strings.Contains(f, "EventBufferExceeded") {
			return
		}
		if i > 4*streamBuffer {
			t.Fatal("no EventBufferExceeded after losing events")
		}
	}
}
