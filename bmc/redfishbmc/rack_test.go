package redfishbmc

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/rack"
)

// bladeRack: two blades of public-bladed watching each other through
// rack.Local, each adapter's events triggering an immediate PollServer.
func bladeRack(t testing.TB) (*redfishsim.Server, *rack.Local, context.Context) {
	s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{})
	a, b := open(t, testConfig(s, bladeSys)), open(t, testConfig(s, blade2Sys))
	top, err := rack.Pairs("blade1", "blade2")
	if err != nil {
		t.Fatal(err)
	}
	cfg := rack.DefaultLocalConfig()
	cfg.Topology = top
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Servers = []rack.Server{
		{Name: "blade1", Sensors: a, Health: a, Power: a},
		{Name: "blade2", Sensors: b, Health: b, Power: b},
	}
	l, err := rack.NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, srv := range cfg.Servers {
		// The bridge a rack manager would run for an EventSource.
		es := srv.Health.(EventSource)
		evs, err := es.Events(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range evs {
				_, _ = l.PollServer(ctx, srv.Name)
			}
		}()
	}
	waitStreams(t, s, 2)
	return s, l, ctx
}

func TestRackLocalWithRedfish(t *testing.T) {
	s, l, ctx := bladeRack(t)
	for _, st := range l.Poll(ctx) {
		if !st.Reachable || st.ReadingsErr != "" || st.HealthErr != "" || len(st.Readings) != 11 || st.Health.Failed() {
			t.Fatalf("%s: %+v", st.Server, st)
		}
	}
	watch, err := l.Watch(ctx, "blade2") // blade2 watches blade1
	if err != nil {
		t.Fatal(err)
	}
	// A pushed event reaches the watcher without waiting for a poll.
	_ = s.Set("/redfish/v1/Systems/"+bladeSys, map[string]any{"Status": map[string]any{"Health": "Critical"}})
	start := time.Now()
	s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + bladeSys, Severity: "Critical", Message: "CPU IERR"})
	select {
	case st := <-watch:
		if st.Server != "blade1" || !st.Health.Fault || len(st.Health.Events) != 1 || st.Health.Events[0].Message != "CPU IERR" {
			t.Fatalf("watcher got %+v", st)
		}
		t.Logf("event to watcher: %v", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("the watcher got no status after the event")
	}
	// The fence goes through the rack manager and is read back.
	if err := l.Power(ctx, "blade1", bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	sys, _ := s.Get("/redfish/v1/Systems/" + bladeSys)
	if sys["PowerState"] != "Off" {
		t.Fatalf("PowerState %v after the fence", sys["PowerState"])
	}
	// A vanished service is unreachable, not failed.
	s.Close()
	for _, st := range l.Poll(ctx) {
		if st.Reachable || !strings.Contains(st.Err, bmc.ErrUnreachable.Error()) {
			t.Errorf("%s after the BMC vanished: reachable %v err %q", st.Server, st.Reachable, st.Err)
		}
	}
	if err := l.Power(ctx, "blade2", bmc.PowerActionOff); !errors.Is(err, bmc.ErrUnreachable) {
		t.Errorf("fence of an unreachable blade: %v", err)
	}
}

// From an event injected into the SSE stream to the status at the
// watcher of rack.Local (event -> PollServer: Health, Readings -> Watch).
func BenchmarkEventToWatcher(b *testing.B) {
	s, l, ctx := bladeRack(b)
	watch, err := l.Watch(ctx, "blade2")
	if err != nil {
		b.Fatal(err)
	}
	health := []string{"Critical", "OK"}
	i := 0
	for b.Loop() {
		_ = s.Set("/redfish/v1/Systems/"+bladeSys, map[string]any{"Status": map[string]any{"Health": health[i%2]}})
		s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/" + bladeSys, Severity: "Critical", Message: "x"})
		for st := range watch {
			if st.Health.Fault == (i%2 == 0) {
				break
			}
		}
		i++
	}
}
