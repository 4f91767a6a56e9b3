package rack_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
)

// pushingBMC answers Health and pushes events on demand.
type pushingBMC struct {
	reads  atomic.Int32
	events chan bmc.Event
	power  atomic.Int32
}

func (p *pushingBMC) Health(context.Context) (bmc.Health, error) {
	p.reads.Add(1)
	return bmc.Health{Power: bmc.PowerState(p.power.Load())}, nil
}

func (p *pushingBMC) Events(ctx context.Context) (<-chan bmc.Event, error) {
	out := make(chan bmc.Event, 4)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-p.events:
				out <- ev
			}
		}
	}()
	return out, nil
}

// An event makes the rack manager read the server at once, long before
// its next poll, and the watcher gets the new status.
func TestRunReadsAServerAtOnceOnItsEvent(t *testing.T) {
	p := &pushingBMC{events: make(chan bmc.Event)}
	p.power.Store(int32(bmc.PowerOn))
	topo, _ := rack.Pairs("a", "b")
	l, err := rack.NewLocal(rack.LocalConfig{Topology: topo, Interval: time.Hour, Servers: []rack.Server{{Name: "a", Health: p}, {Name: "b"}}})
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
	go func() { _ = l.Run(ctx); close(done) }()
	if st := <-watch; st.Health.Power != bmc.PowerOn {
		t.Fatalf("first status %+v", st)
	}
	p.power.Store(int32(bmc.PowerOff))
	start := time.Now()
	p.events <- bmc.Event{Message: "power off", Severity: bmc.SeverityCritical}
	select {
	case st := <-watch:
		if st.Health.Power != bmc.PowerOff {
			t.Errorf("status after the event: power %v, want off", st.Health.Power)
		}
		t.Logf("event to watcher: %v", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("no status after the event (the next poll is an hour away)")
	}
	cancel()
	<-done
	if n := p.reads.Load(); n != 2 {
		t.Errorf("%d reads, want 2 (the first poll and the event)", n)
	}
}
