package redfishbmc

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/rack"
)

// waitConnects waits until the sim has seen n SSE requests.
func waitConnects(t testing.TB, s *redfishsim.Server, n int) time.Time {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Count("GET", s.SSEURI()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d SSE connects, want %d", s.Count("GET", s.SSEURI()), n)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Now()
}

// messages reads events until one whose message contains last, and
// returns the messages before it.
func messagesUntil(t *testing.T, ch <-chan bmc.Event, last string) []string {
	t.Helper()
	var got []string
	for {
		ev, ok := next(t, ch, 5*time.Second)
		if !ok {
			t.Fatalf("no %q among %q", last, got)
		}
		if strings.Contains(ev.Message, last) {
			return got
		}
		got = append(got, ev.Message)
	}
}

// Events published while the stream was down arrive after the reconnect:
// the adapter sends Last-Event-ID and the service replays.
func TestEventsLastEventIDReplay(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	cfg := testConfig(s, "")
	cfg.ReconnectMin = 10 * time.Millisecond
	b := open(t, cfg)
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	s.Publish(redfishsim.Event{Origin: miniSys, Message: "one"})
	s.Publish(redfishsim.Event{Origin: miniSys, Message: "two"})
	messagesUntil(t, ch, "two")
	// The reconnect is held up 300 ms, so both events below are published
	// while no stream is open.
	s.Inject(redfishsim.Fault{Path: s.SSEURI(), Latency: 300 * time.Millisecond, Times: 1})
	s.DropStreams()
	waitStreams(t, s, 0)
	s.Publish(redfishsim.Event{Origin: miniSys, Message: "during the drop 1"})
	s.Publish(redfishsim.Event{Origin: miniSys, Message: "during the drop 2"})
	got := messagesUntil(t, ch, "during the drop 2")
	if !strings.Contains(strings.Join(got, "|"), "during the drop 1") {
		t.Fatalf("events before the replayed last: %q", got)
	}
	for _, m := range got {
		if strings.Contains(m, "events lost") {
			t.Errorf("a replayed stream was taken for a loss: %q", got)
		}
	}
	c := s.Connects()
	if len(c) != 2 || c[0].LastEventID != "" || c[1].LastEventID != "2" || c[1].Replayed != 2 {
		t.Fatalf("connects %+v, want the reconnect to send Last-Event-ID 2 and get 2 events replayed", c)
	}
}

// The stream's retry field sets the reconnect delay, within ReconnectMax.
func TestEventsRetryField(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	cfg := testConfig(s, "")
	cfg.ReconnectMin = 5 * time.Millisecond
	cfg.ReconnectMax = 600 * time.Millisecond
	b := open(t, cfg)
	if _, err := b.Events(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	s.PublishRaw([]byte("retry: 400\n\n"))
	s.Publish(redfishsim.Event{Origin: miniSys, Message: "x"}) // the retry field is read before this event
	time.Sleep(50 * time.Millisecond)
	dropped := time.Now()
	s.DropStreams()
	if d := waitConnects(t, s, 2).Sub(dropped); d < 400*time.Millisecond {
		t.Fatalf("reconnected after %v, the service asked for 400 ms", d)
	}
	// A huge retry is bounded by ReconnectMax.
	waitStreams(t, s, 1)
	s.PublishRaw([]byte("retry: 999999999999\n\n"))
	s.Publish(redfishsim.Event{Origin: miniSys, Message: "y"})
	time.Sleep(50 * time.Millisecond)
	dropped = time.Now()
	s.DropStreams()
	if d := waitConnects(t, s, 3).Sub(dropped); d < 600*time.Millisecond || d > 3*time.Second {
		t.Fatalf("reconnected after %v, want ReconnectMax (600 ms)", d)
	}
}

func TestReconnectDelay(t *testing.T) {
	for _, tc := range []struct{ backoff, retry, max, want time.Duration }{
		{time.Second, 0, time.Minute, time.Second},
		{time.Second, 3 * time.Second, time.Minute, 3 * time.Second},
		{time.Second, 10 * time.Millisecond, time.Minute, time.Second}, // never faster than the backoff
		{time.Second, time.Hour, time.Minute, time.Minute},
	} {
		if got := reconnectDelay(tc.backoff, tc.retry, tc.max); got != tc.want {
			t.Errorf("reconnectDelay(%v, %v, %v) = %v, want %v", tc.backoff, tc.retry, tc.max, got, tc.want)
		}
	}
}

// A gap in the ids, or an EventBufferExceeded, is told as a loss, even
// when the event that shows it concerns another resource.
func TestEventsLossTold(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	s.Publish(redfishsim.Event{Origin: miniSys, Message: "first"})
	messagesUntil(t, ch, "first")
	s.SkipEventIDs(3)
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Managers/other", Message: "not mine"})
	ev, ok := next(t, ch, 5*time.Second)
	if !ok || !strings.Contains(ev.Message, "event ids 2 to 4 never arrived") {
		t.Fatalf("after a gap: %+v %v", ev, ok)
	}
	s.PublishBufferExceeded()
	ev, ok = next(t, ch, 5*time.Second)
	if !ok || !strings.Contains(ev.Message, "events lost") || !strings.Contains(ev.Message, "EventBufferExceeded") {
		t.Fatalf("after EventBufferExceeded: %+v %v", ev, ok)
	}
}

// A resumption point the service no longer holds: it says
// EventBufferExceeded, and the ids show the gap.
func TestEventsResumeBeyondHistory(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{EventHistory: 2})
	cfg := testConfig(s, "")
	cfg.ReconnectMin = 10 * time.Millisecond
	b := open(t, cfg)
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	s.Publish(redfishsim.Event{Origin: miniSys, Message: "first"})
	messagesUntil(t, ch, "first")
	s.Inject(redfishsim.Fault{Path: s.SSEURI(), Latency: 300 * time.Millisecond, Times: 1}) // away while 5 are published
	s.DropStreams()
	waitStreams(t, s, 0)
	for range 5 {
		s.Publish(redfishsim.Event{Origin: miniSys, Message: "while away"})
	}
	got := strings.Join(messagesUntil(t, ch, "event ids 2 to 4 never arrived"), "|")
	if !strings.Contains(got, "EventBufferExceeded") {
		t.Fatalf("events %q: no EventBufferExceeded before the gap", got)
	}
}

// The filter: asked for where the service supports it, honoured by the
// sim; a gap in a filtered stream's ids is no loss.
func TestEventsFilter(t *testing.T) {
	s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{Overlays: []string{overlayFilterQuery}})
	b := open(t, testConfig(s, bladeSys))
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	c := s.Connects()
	want := "OriginResource eq '/redfish/v1/Systems/" + bladeSys + "' or OriginResource eq '/redfish/v1/Chassis/Blade1' or OriginResource eq '/redfish/v1/Chassis/MultiBladeEncl'"
	if len(c) != 1 || c[0].Filter != want {
		t.Fatalf("connects %+v, want $filter %q", c, want)
	}
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + bladeSys, Message: "first"})
	messagesUntil(t, ch, "first")
	if n := s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + blade2Sys, Message: "other blade"}); n != 0 {
		t.Fatalf("another blade's event was sent on the filtered stream")
	}
	if n := s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + bladeSys, Message: "mine"}); n != 1 {
		t.Fatalf("this blade's event was filtered out")
	}
	if got := messagesUntil(t, ch, "mine"); len(got) != 0 {
		t.Fatalf("before mine: %q (a filtered stream's id gap is no loss)", got)
	}
}

// No filter where the service does not support it; a refused filter
// falls back to the whole stream.
func TestEventsFilterFallback(t *testing.T) {
	s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{})
	b := open(t, testConfig(s, bladeSys))
	if _, err := b.Events(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	if c := s.Connects(); c[0].Filter != "" {
		t.Fatalf("FilterQuery false, yet $filter %q", c[0].Filter)
	}

	s2 := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{Overlays: []string{overlayFilterQuery}})
	s2.Inject(redfishsim.Fault{Path: s2.SSEURI(), Status: 400, Times: 1})
	cfg := testConfig(s2, bladeSys)
	cfg.ReconnectMin = 10 * time.Millisecond
	b2 := open(t, cfg)
	if _, err := b2.Events(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s2, 1)
	if c := s2.Connects(); len(c) != 1 || c[0].Filter != "" || s2.Count("GET", s2.SSEURI()) != 2 {
		t.Fatalf("after a refused $filter: connects %+v of %d requests, want one unfiltered after the refusal", c, s2.Count("GET", s2.SSEURI()))
	}
}

// rack.Local reads a server in full when its stream tells a loss: a
// change the service never sent an event for reaches the watcher.
func TestEventsLossMakesRackRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(*redfishsim.Server)
	}{
		{"gap", func(s *redfishsim.Server) {
			s.SkipEventIDs(5)
			s.Publish(redfishsim.Event{Origin: "/redfish/v1/Managers/other", Message: "not about the blade"})
		}},
		{"EventBufferExceeded", func(s *redfishsim.Server) { s.PublishBufferExceeded() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, "testdata/mini", redfishsim.Options{})
			cfg := testConfig(s, "")
			cfg.PollInterval = time.Hour // the adapter's own poll is no help here ...
			b := open(t, cfg)
			top, err := rack.Pairs("a", "b")
			if err != nil {
				t.Fatal(err)
			}
			rc := rack.DefaultLocalConfig()
			rc.Topology = top
			rc.Interval = time.Hour // ... nor is the rack's
			rc.FastInterval = -1
			rc.Logger = slog.New(slog.DiscardHandler)
			peer := startSim(t, "testdata/mini", redfishsim.Options{})
			pb := open(t, testConfig(peer, ""))
			rc.Servers = []rack.Server{{Name: "a", Health: b, Sensors: b}, {Name: "b", Health: pb}}
			l, err := rack.NewLocal(rc)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			watch, err := l.Watch(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); _ = l.Run(ctx) }()
			defer func() { cancel(); <-done }()
			waitStreams(t, s, 1)
			s.Publish(redfishsim.Event{Origin: miniSys, Message: "warm-up"}) // the first id
			for st := range watch {
				if len(st.Health.Events) > 0 {
					break
				}
			}
			// A change without its event, then the loss.
			if err := s.Set(miniSys, map[string]any{"Status": map[string]any{"Health": "Critical"}}); err != nil {
				t.Fatal(err)
			}
			tc.lose(s)
			deadline := time.After(5 * time.Second)
			for {
				select {
				case st := <-watch:
					if st.Server == "a" && st.Health.Fault {
						return
					}
				case <-deadline:
					t.Fatal("the watcher never saw the change after the loss")
				}
			}
		})
	}
}
