package redfishbmc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

// waitStreams waits until the sim has n open event streams.
func waitStreams(t testing.TB, s *redfishsim.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Streams() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d event streams open, want %d", s.Streams(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func next(t testing.TB, ch <-chan bmc.Event, d time.Duration) (bmc.Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(d):
		return bmc.Event{}, false
	}
}

// Only events about this blade, its chassis or its enclosure arrive.
func TestEventsSSEFiltered(t *testing.T) {
	s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{})
	b := open(t, testConfig(s, bladeSys))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := b.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + blade2Sys, Message: "other blade", Severity: "Critical"})
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + bladeSys, Message: "mine", Severity: "Critical"})
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Chassis/MultiBladeEncl/Power", Message: "enclosure", Severity: "Warning"})
	s.PublishRaw([]byte("data: {not json\n\n"))
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Chassis/Blade1", Message: "my chassis"})
	var got []string
	for range 3 {
		ev, ok := next(t, ch, 5*time.Second)
		if !ok {
			t.Fatalf("events so far %q; no more", got)
		}
		got = append(got, ev.Message+"/"+ev.Severity.String())
	}
	want := "mine/critical enclosure/warning my chassis/info"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	h, err := b.Health(ctxT(t, 5*time.Second))
	if err != nil || len(h.Events) != 3 || h.Events[0].Source != "/redfish/v1/Systems/"+bladeSys {
		t.Fatalf("Health.Events = %+v, %v", h.Events, err)
	}
	if h, _ := b.Health(ctxT(t, 5*time.Second)); len(h.Events) != 0 {
		t.Fatalf("events returned twice: %+v", h.Events)
	}
	cancel()
	for range ch {
	}
}

// A dropped stream reconnects and says events may have been missed.
func TestEventsReconnect(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	cfg := testConfig(s, "")
	cfg.ReconnectMin = 20 * time.Millisecond
	b := open(t, cfg)
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	// Refuse the next two connects: the backoff path.
	s.Inject(redfishsim.Fault{Path: s.SSEURI(), Status: 503, Times: 2})
	s.DropStreams()
	ev, ok := next(t, ch, 5*time.Second)
	if !ok || !strings.Contains(ev.Message, "interrupted") {
		t.Fatalf("got %+v %v, want the interruption event", ev, ok)
	}
	waitStreams(t, s, 1)
	if n := s.Count("GET", s.SSEURI()); n != 4 {
		t.Errorf("%d stream connects, want 4 (first, two refused, reconnect)", n)
	}
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/1", Message: "after"})
	if ev, ok := next(t, ch, 5*time.Second); !ok || ev.Message != "after" {
		t.Fatalf("after reconnect: %+v %v", ev, ok)
	}
}

// A stream that goes silent is reconnected after StallTimeout.
func TestEventsStall(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	cfg := testConfig(s, "")
	cfg.StallTimeout = 150 * time.Millisecond
	cfg.ReconnectMin = 10 * time.Millisecond
	b := open(t, cfg)
	if _, err := b.Events(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Count("GET", s.SSEURI()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d connects in 5 s with a 150 ms stall timeout", s.Count("GET", s.SSEURI()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Without SSE, polling turns a state change into an event.
func TestEventsPollingFallback(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{NoSSE: true})
	cfg := testConfig(s, "")
	cfg.PollInterval = 30 * time.Millisecond
	b := open(t, cfg)
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	_ = s.Set("/redfish/v1/Systems/1", map[string]any{"PowerState": "Off"})
	ev, ok := next(t, ch, 5*time.Second)
	if !ok || ev.Severity != bmc.SeverityCritical || !strings.Contains(ev.Message, "PowerState Off") {
		t.Fatalf("got %+v %v", ev, ok)
	}
}

// A reader that never reads loses old events, not new ones, and the
// producer never blocks.
func TestEventsSlowReader(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	for i := range 2 * eventBuffer {
		s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/1", Message: "e" + string(rune('0'+i%10))})
		if i%32 == 31 {
			time.Sleep(20 * time.Millisecond) // let the sim's stream buffer drain
		}
	}
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/1", Message: "last"})
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Message == "last" {
				return
			}
		case <-deadline:
			t.Fatal("the newest event was lost")
		}
	}
}

func TestEventsCloseEndsStream(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b, err := Open(context.Background(), testConfig(s, ""))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := b.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	_ = b.Close()
	for {
		if _, ok := next(t, ch, 5*time.Second); !ok {
			break
		}
	}
	waitStreams(t, s, 0)
}
