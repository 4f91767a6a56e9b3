package redfishbmc

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// The project's watchdog fixtures, laid over a mockup.
const (
	overlayWatchdogMini  = "testdata/overlays/watchdog-mini"
	overlayWatchdogTower = "testdata/overlays/watchdog-tower"
	overlayFilterQuery   = "testdata/overlays/filter-query"
	miniSys              = "/redfish/v1/Systems/1"
	miniLog              = "/redfish/v1/Systems/1/LogServices/Log/Entries"
	wdMessageID          = "Fixture.1.0.HostWatchdogTimerExpired"
)

func watchdogMini(t *testing.T, opts redfishsim.Options) (*redfishsim.Server, *BMC) {
	t.Helper()
	opts.Overlays = append(opts.Overlays, overlayWatchdogMini)
	s := startSim(t, "testdata/mini", opts)
	cfg := testConfig(s, "")
	cfg.WatchdogLogInterval = time.Nanosecond
	return s, open(t, cfg)
}

func readState(t *testing.T, b *BMC) watchdog.State {
	t.Helper()
	st, err := b.State(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	return st
}

// A service without HostWatchdogTimer does not offer the role: State
// says so with bmc.ErrNotOffered, which is no failed read.
func TestWatchdogNotOffered(t *testing.T) {
	for _, tc := range []struct{ name, dir, system string }{
		{"mini", "testdata/mini", ""},
		{"tower", mockup(t, "public-tower"), ""},
		{"blade", mockup(t, "public-bladed"), bladeSys},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t, testConfig(startSim(t, tc.dir, redfishsim.Options{}), tc.system))
			_, err := b.State(ctxT(t, 5*time.Second))
			if !errors.Is(err, bmc.ErrNotOffered) || errors.Is(err, bmc.ErrUnreachable) || errors.Is(err, bmc.ErrMalformed) {
				t.Fatalf("State: %v, want bmc.ErrNotOffered only", err)
			}
			if !strings.Contains(err.Error(), "HostWatchdogTimer") {
				t.Errorf("the error does not say what is missing: %v", err)
			}
		})
	}
}

// Arm and Kick are refused with bmc.ErrUnsupported: Redfish only reads
// the host watchdog.
func TestWatchdogReadOnly(t *testing.T) {
	s, b := watchdogMini(t, redfishsim.Options{})
	before := s.Count("PATCH", miniSys) + s.Count("POST", miniSys)
	if err := b.Arm(ctxT(t, time.Second), time.Minute, watchdog.ActionHardReset); !errors.Is(err, bmc.ErrUnsupported) {
		t.Errorf("Arm: %v, want bmc.ErrUnsupported", err)
	}
	if err := b.Kick(ctxT(t, time.Second)); !errors.Is(err, bmc.ErrUnsupported) {
		t.Errorf("Kick: %v, want bmc.ErrUnsupported", err)
	}
	if n := s.Count("PATCH", miniSys) + s.Count("POST", miniSys); n != before {
		t.Errorf("Arm/Kick wrote to the system (%d requests)", n-before)
	}
}

func TestWatchdogState(t *testing.T) {
	s, b := watchdogMini(t, redfishsim.Options{})
	// The fixture's log holds an old expiry: history, not an expiry now.
	if st := readState(t, b); !st.Running || st.Expired || st.Action != watchdog.ActionHardReset || st.Timeout != 0 {
		t.Fatalf("State = %+v, want running, hard-reset, not expired", st)
	}
	for _, tc := range []struct {
		patch   map[string]any
		running bool
		action  watchdog.Action
	}{
		{map[string]any{"FunctionEnabled": false}, false, watchdog.ActionHardReset},
		{map[string]any{"FunctionEnabled": true, "Status": map[string]any{"State": "Disabled"}}, false, watchdog.ActionHardReset},
		{map[string]any{"Status": map[string]any{"State": "Enabled"}, "TimeoutAction": "PowerDown"}, true, watchdog.ActionPowerDown},
		{map[string]any{"TimeoutAction": "PowerCycle"}, true, watchdog.ActionPowerCycle},
		{map[string]any{"TimeoutAction": "OEM"}, true, watchdog.ActionNone},
		{map[string]any{"TimeoutAction": "None"}, true, watchdog.ActionNone},
	} {
		if err := s.Set(miniSys, map[string]any{"HostWatchdogTimer": tc.patch}); err != nil {
			t.Fatal(err)
		}
		if st := readState(t, b); st.Running != tc.running || st.Action != tc.action {
			t.Errorf("after %v: State = %+v, want running %v action %v", tc.patch, st, tc.running, tc.action)
		}
	}
	// A malformed watchdog fails State only, never Health.
	if err := s.Set(miniSys, map[string]any{"HostWatchdogTimer": map[string]any{"FunctionEnabled": "yes"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.State(ctxT(t, 5*time.Second)); !errors.Is(err, bmc.ErrMalformed) {
		t.Errorf("State of a malformed HostWatchdogTimer: %v, want ErrMalformed", err)
	}
	if _, err := b.Health(ctxT(t, 5*time.Second)); err != nil {
		t.Errorf("Health with a malformed HostWatchdogTimer: %v", err)
	}
}

// The DMTF tower with the project's overlay: its system gains a watchdog.
func TestWatchdogTowerOverlay(t *testing.T) {
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{Overlays: []string{overlayWatchdogTower}})
	b := open(t, testConfig(s, ""))
	if st := readState(t, b); !st.Running || st.Action != watchdog.ActionPowerCycle || st.Expired {
		t.Fatalf("State = %+v", st)
	}
}

func addExpiry(t *testing.T, s *redfishsim.Server, origin string) string {
	t.Helper()
	p, err := s.AddLogEntry(miniLog, map[string]any{
		"EntryType": "Event", "Severity": "Critical", "MessageId": wdMessageID,
		"Message": "The host watchdog timer expired.", "Links": map[string]any{"OriginOfCondition": map[string]any{"@odata.id": origin}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func setWatchdogEnabled(t *testing.T, s *redfishsim.Server, on bool) {
	t.Helper()
	if err := s.Set(miniSys, map[string]any{"HostWatchdogTimer": map[string]any{"FunctionEnabled": on}}); err != nil {
		t.Fatal(err)
	}
}

// An expiry the service logs is the watchdog detection mode: Expired
// until the watchdog is seen re-armed, or the log is cleared; Health
// carries it as a critical event.
func TestWatchdogExpiryFromLog(t *testing.T) {
	s, b := watchdogMini(t, redfishsim.Options{AllowBasicAuth: true})
	readState(t, b) // the first read notes the log's history
	_, _ = b.Health(ctxT(t, 5*time.Second))

	addExpiry(t, s, "/redfish/v1/Systems/other") // about another system: not ours
	addExpiry(t, s, miniSys)
	st := readState(t, b)
	if !st.Expired {
		t.Fatalf("State after a logged expiry = %+v, want Expired", st)
	}
	h, err := b.Health(ctxT(t, 5*time.Second))
	if err != nil || len(h.Events) != 1 || h.Events[0].Severity != bmc.SeverityCritical || !strings.Contains(h.Events[0].Message, "watchdog expired") {
		t.Fatalf("Health.Events = %+v, %v; want the one expiry", h.Events, err)
	}
	// Still running (the host never re-armed it): still expired.
	if !readState(t, b).Expired {
		t.Fatal("the expiry did not stand")
	}
	// The timer stops (the BMC acted), then the host arms it again.
	setWatchdogEnabled(t, s, false)
	if !readState(t, b).Expired {
		t.Fatal("the expiry cleared before a re-arm")
	}
	setWatchdogEnabled(t, s, true)
	if st := readState(t, b); st.Expired || !st.Running {
		t.Fatalf("after the re-arm State = %+v, want running, not expired", st)
	}

	// A second expiry, then the log is cleared: cleared too.
	addExpiry(t, s, miniSys)
	if !readState(t, b).Expired {
		t.Fatal("the second expiry was not seen")
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/redfish/v1/Systems/1/LogServices/Log/Actions/LogService.ClearLog", strings.NewReader("{}"))
	req.SetBasicAuth(testUser, testPass)
	resp, err := s.Client().Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("ClearLog: %v %v", resp, err)
	}
	resp.Body.Close()
	if readState(t, b).Expired {
		t.Fatal("still expired after the log was cleared")
	}
}

// The log is read at most every WatchdogLogInterval.
func TestWatchdogLogInterval(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{Overlays: []string{overlayWatchdogMini}})
	cfg := testConfig(s, "")
	cfg.WatchdogLogInterval = time.Hour
	b := open(t, cfg)
	for range 5 {
		readState(t, b)
	}
	if n := s.Count("GET", miniLog); n != 1 {
		t.Fatalf("%d log reads for 5 States within the interval, want 1", n)
	}
}

// An expiry event on the stream sets Expired at once and arrives as a
// critical event.
func TestWatchdogExpiryFromEvent(t *testing.T) {
	s, b := watchdogMini(t, redfishsim.Options{})
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	if readState(t, b).Expired {
		t.Fatal("expired before any expiry")
	}
	s.Publish(redfishsim.Event{Origin: miniSys, MessageID: wdMessageID, Message: "timer expired", Severity: "Warning"})
	ev, ok := next(t, ch, 5*time.Second)
	if !ok || ev.Severity != bmc.SeverityCritical || !strings.Contains(ev.Message, "watchdog expired") {
		t.Fatalf("event %+v %v, want the critical watchdog expiry", ev, ok)
	}
	if !readState(t, b).Expired {
		t.Fatal("State not expired after the expiry event")
	}
}

// On an enclosure, a watchdog event about another blade, or naming no
// system, is no expiry of this blade's watchdog.
func TestWatchdogEventOtherBlade(t *testing.T) {
	s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{})
	b := open(t, testConfig(s, bladeSys))
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + blade2Sys, MessageID: wdMessageID, Message: "other"})
	s.Publish(redfishsim.Event{MessageID: wdMessageID, Message: "nobody's"})
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + bladeSys, Message: "marker"})
	for {
		ev, ok := next(t, ch, 5*time.Second)
		if !ok {
			t.Fatal("no marker event")
		}
		if ev.Message == "marker" {
			break
		}
		if ev.Severity == bmc.SeverityCritical {
			t.Errorf("event %+v made critical", ev)
		}
	}
	if b.wd.observe(true) {
		t.Fatal("another blade's (or nobody's) watchdog expiry set this blade's")
	}
	// And this blade's own does.
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + bladeSys, MessageID: wdMessageID, Message: "mine"})
	if ev, ok := next(t, ch, 5*time.Second); !ok || ev.Severity != bmc.SeverityCritical {
		t.Fatalf("own expiry: %+v %v", ev, ok)
	}
	if !b.wd.observe(true) {
		t.Fatal("this blade's expiry not recorded")
	}
}

func TestWatchdogUnreachable(t *testing.T) {
	s, err := redfishsim.New("testdata/mini", redfishsim.Options{Username: testUser, Password: testPass, Overlays: []string{overlayWatchdogMini}})
	if err != nil {
		t.Fatal(err)
	}
	b := open(t, testConfig(s, ""))
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.State(ctx); !errors.Is(err, bmc.ErrUnreachable) || errors.Is(err, bmc.ErrNotOffered) {
		t.Fatalf("State of a vanished service: %v, want ErrUnreachable", err)
	}
}

func TestIsWatchdogExpiry(t *testing.T) {
	for id, want := range map[string]bool{
		"Fixture.1.0.HostWatchdogTimerExpired": true,
		"Oem.1.0.WatchdogTimerExpired":         true,
		"Vendor.2.1.WatchdogTimeout":           true,
		"OpenBMC.0.1.IPMIWatchdog":             false, // logged on enable and disable too
		"Base.1.15.EventBufferExceeded":        false,
		"WatchdogExpired":                      true,
		"":                                     false,
		"ResourceEvent.1.0.ResourceStatusChangedCritical": false,
	} {
		if got := isWatchdogExpiry(id); got != want {
			t.Errorf("isWatchdogExpiry(%q) = %v, want %v", id, got, want)
		}
	}
}

// Through rack.Local: the expiry event makes the rack read the server at
// once, and the status carries the expired watchdog and the event.
func TestRackWatchdogExpiry(t *testing.T) {
	s, b := watchdogMini(t, redfishsim.Options{})
	peer := open(t, testConfig(startSim(t, "testdata/mini", redfishsim.Options{}), ""))
	top, err := rack.Pairs("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	rc := rack.DefaultLocalConfig()
	rc.Topology = top
	rc.Interval = time.Hour
	rc.FastInterval = -1
	rc.Logger = slog.New(slog.DiscardHandler)
	rc.Servers = []rack.Server{{Name: "a", Health: b, Sensors: b, Watchdog: b, Power: b}, {Name: "b", Health: peer}}
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
	for st := range watch { // the first full read: a running watchdog, not expired
		if st.Server == "a" && st.WatchdogKnown {
			if st.Watchdog.Expired || !st.Watchdog.Running {
				t.Fatalf("first status %+v", st.Watchdog)
			}
			break
		}
	}
	s.Publish(redfishsim.Event{Origin: miniSys, MessageID: wdMessageID, Message: "timer expired"})
	deadline := time.After(5 * time.Second)
	for {
		select {
		case st := <-watch:
			if st.Server != "a" || !st.Watchdog.Expired {
				continue
			}
			if len(st.Health.Events) == 0 || !strings.Contains(st.Health.Events[len(st.Health.Events)-1].Message, "watchdog expired") {
				t.Fatalf("expired status without the event: %+v", st.Health.Events)
			}
			return
		case <-deadline:
			t.Fatal("the watcher never saw the expired watchdog")
		}
	}
}
