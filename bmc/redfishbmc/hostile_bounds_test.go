package redfishbmc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/sensor"
)

// Every answer is capped, whatever it claims to be: an error body, or a
// plain GET (or the SSE request's error) answered as text/event-stream.
func TestHostileOversizeBodies(t *testing.T) {
	sysPath := "/redfish/v1/Systems/" + towerSys
	for _, tc := range []struct {
		name  string
		fault redfishsim.Fault
		call  func(b *BMC) error
	}{
		{"error body", redfishsim.Fault{Path: sysPath, Status: 500, Oversize: 1 << 20},
			func(b *BMC) error { _, err := b.Health(ctxT(t, 5*time.Second)); return err }},
		{"GET claiming event-stream", redfishsim.Fault{Path: sysPath, Oversize: 1 << 20, ContentType: "text/event-stream"},
			func(b *BMC) error { _, err := b.Health(ctxT(t, 5*time.Second)); return err }},
		{"error body claiming event-stream", redfishsim.Fault{Path: sysPath, Status: 500, Oversize: 1 << 20, ContentType: "text/event-stream"},
			func(b *BMC) error { _, err := b.PowerState(ctxT(t, 5*time.Second)); return err }},
		{"login error claiming event-stream", redfishsim.Fault{Path: "/redfish/v1/SessionService/Sessions", Method: "POST", Status: 401, Oversize: 1 << 20, ContentType: "text/event-stream"},
			func(b *BMC) error { return b.relogin(ctxT(t, 5*time.Second), b.gen) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{})
			cfg := testConfig(s, "")
			cfg.MaxBodyBytes = 64 << 10
			b := open(t, cfg)
			s.Inject(tc.fault)
			err := tc.call(b)
			if !errors.Is(err, bmc.ErrMalformed) || !strings.Contains(err.Error(), "MaxBodyBytes") {
				t.Fatalf("err = %v, want ErrMalformed naming MaxBodyBytes", err)
			}
		})
	}
	// The SSE request's error answer is capped too.
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{})
	cfg := testConfig(s, "")
	cfg.MaxBodyBytes = 64 << 10
	b := open(t, cfg)
	s.Inject(redfishsim.Fault{Path: s.SSEURI(), Status: 503, Oversize: 1 << 20, ContentType: "text/event-stream"})
	_, _, err := b.stream(ctxT(t, 5*time.Second), s.SSEURI(), make(chan bmc.Event, eventBuffer), nil, &streamState{}, make(chan struct{}, 1))
	if !errors.Is(err, bmc.ErrMalformed) || !strings.Contains(err.Error(), "MaxBodyBytes") {
		t.Fatalf("SSE error answer: err = %v, want ErrMalformed naming MaxBodyBytes", err)
	}
}

// A stream that trickles keep-alives but no event is stalled.
func TestHostileSSETrickleStalls(t *testing.T) {
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{Heartbeat: 20 * time.Millisecond})
	cfg := testConfig(s, "")
	cfg.StallTimeout = 200 * time.Millisecond
	cfg.ReconnectMin = 10 * time.Millisecond
	b := open(t, cfg)
	if _, err := b.Events(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for s.Count("GET", s.SSEURI()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("a stream of keep-alives only was never dropped (StallTimeout %v)", cfg.StallTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stream that opens, sends garbage and ends does not reset the
// backoff: reconnects slow down instead of hammering the BMC.
func TestHostileSSEBackoffResetsOnlyOnValidEvent(t *testing.T) {
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{})
	s.Inject(redfishsim.Fault{Path: s.SSEURI(), ContentType: "text/event-stream", Body: []byte("data: {not an event\n\n: hi\n\n")})
	cfg := testConfig(s, "")
	cfg.ReconnectMin = 20 * time.Millisecond
	cfg.ReconnectMax = 10 * time.Second
	b := open(t, cfg)
	if _, err := b.Events(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	// Doubling from 20 ms: connects near 0, 20, 60, 140, 300, 620 ms (and
	// 1260): 6 or 7. Reset on every connect: about 60.
	if n := s.Count("GET", s.SSEURI()); n > 9 || n < 3 {
		t.Fatalf("%d stream connects in 1.2 s, want 3..9 (backoff doubling)", n)
	}
}

// While a stream is open but silent, polling still finds a change.
func TestHostileSSESilentStillPolls(t *testing.T) {
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{})
	cfg := testConfig(s, "")
	cfg.PollInterval = 30 * time.Millisecond
	b := open(t, cfg)
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	time.Sleep(60 * time.Millisecond) // a first poll has read the state
	if err := s.Set("/redfish/v1/Systems/"+towerSys, map[string]any{"PowerState": "Off"}); err != nil {
		t.Fatal(err)
	}
	ev, ok := next(t, ch, 3*time.Second)
	if !ok || !strings.Contains(ev.Message, "polled: PowerState Off") {
		t.Fatalf("got %+v %v, want the polled change while the stream is open", ev, ok)
	}
	if n := s.Streams(); n != 1 {
		t.Fatalf("%d streams open, want the one", n)
	}
}

// Thresholds are range-checked by kind, as values are, and a reading of
// kind other has bounds too: such a sensor reads unavailable, with an
// error saying why.
func TestHostileSensorOutOfRange(t *testing.T) {
	dir := mockup(t, "public-tower")
	coll := "/redfish/v1/Chassis/Tower/Sensors"
	for _, tc := range []struct {
		name  string
		patch map[string]any
	}{
		{"temperature threshold", map[string]any{"ReadingType": "Temperature", "ReadingUnits": "Cel", "Reading": 40,
			"Thresholds": map[string]any{"UpperCritical": map[string]any{"Reading": 1e300}}}},
		{"voltage threshold", map[string]any{"ReadingType": "Voltage", "ReadingUnits": "V", "Reading": 12,
			"Thresholds": map[string]any{"LowerFatal": map[string]any{"Reading": -1e9}}}},
		{"other reading", map[string]any{"ReadingType": "Frequency", "ReadingUnits": "Hz", "Reading": 1e300}},
		{"other threshold", map[string]any{"ReadingType": "Frequency", "ReadingUnits": "Hz", "Reading": 50,
			"Thresholds": map[string]any{"UpperFatal": map[string]any{"Reading": -1e300}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, dir, redfishsim.Options{})
			c, _ := s.Get(coll)
			first := c["Members"].([]any)[0].(map[string]any)["@odata.id"].(string)
			if err := s.Set(first, tc.patch); err != nil {
				t.Fatal(err)
			}
			r, _ := s.Get(first)
			name := r["Name"].(string)
			b := open(t, testConfig(s, ""))
			rs, err := b.Readings(ctxT(t, 5*time.Second))
			if !errors.Is(err, bmc.ErrMalformed) || !errors.Is(err, sensor.ErrInvalidReading) && !strings.Contains(err.Error(), "invalid sensor reading") {
				t.Fatalf("err = %v, want ErrMalformed for an invalid reading", err)
			}
			found := false
			for _, r := range rs {
				if r.Name == name {
					found = true
					if r.Status != sensor.StatusUnavailable || r.Value != 0 || r.Thresholds != (sensor.Thresholds{}) {
						t.Fatalf("%+v, want unavailable with no value or thresholds", r)
					}
				} else if err := r.Validate(); err != nil {
					t.Errorf("other reading: %v", err)
				}
			}
			if !found {
				t.Fatalf("sensor %q missing from %d readings", name, len(rs))
			}
		})
	}
}
