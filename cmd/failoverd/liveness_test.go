package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

type chanManager struct{ ch chan rack.Status }

func (m chanManager) Watch(context.Context, string) (<-chan rack.Status, error) { return m.ch, nil }
func (m chanManager) Power(context.Context, string, bmc.PowerAction) error      { return nil }

type countingWatchdog struct {
	mu    sync.Mutex
	kicks int
}

func (w *countingWatchdog) Arm(context.Context, time.Duration, watchdog.Action) error { return nil }
func (w *countingWatchdog) Kick(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.kicks++
	return nil
}
func (w *countingWatchdog) State(context.Context) (watchdog.State, error) {
	return watchdog.State{}, nil
}

// A status the monitor's loop does not take within stallAfter stops the
// kicks; once the loop takes it, they resume. No status waiting (the rack
// manager is gone) is no stall.
func TestLoopGateStopsKicksWhenTheLoopStalls(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	in := make(chan rack.Status, 1)
	g := newLoopGate(chanManager{in}, 2*time.Second)
	g.now = clock
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, err := g.Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	inner := &countingWatchdog{}
	wd := gatedWatchdog{Watchdog: inner, alive: g.alive}
	if err := wd.Kick(ctx); err != nil {
		t.Fatalf("no status waiting: %v", err)
	}
	advance(time.Hour) // rack manager silent for an hour: still alive
	if err := wd.Kick(ctx); err != nil {
		t.Fatalf("silent rack manager: %v", err)
	}
	in <- rack.Status{Server: "s2"}
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return !g.waiting.IsZero() })
	advance(time.Second)
	if err := wd.Kick(ctx); err != nil {
		t.Fatalf("waiting 1s of 2s: %v", err)
	}
	advance(1500 * time.Millisecond)
	err = wd.Kick(ctx)
	if err == nil || !strings.Contains(err.Error(), "not kicking") {
		t.Fatalf("stalled loop: kick %v", err)
	}
	if inner.kicks != 3 {
		t.Fatalf("%d kicks reached the watchdog, want 3", inner.kicks)
	}
	<-out // the loop takes the status
	waitFor(t, func() bool { ok, _ := g.alive(); return ok })
	if err := wd.Kick(ctx); err != nil || inner.kicks != 4 {
		t.Fatalf("after the loop took it: %v, %d kicks", err, inner.kicks)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
	}
}

// With the rack manager silent (no status waits), a loop that stops
// stepping still stops the kicks: here the monitor's loop blocks in its
// event handler at boot, while reconciling a VM it owns.
func TestLoopAliveWhenNoStatusComes(t *testing.T) {
	store := memstore.New()
	if _, err := store.Put(context.Background(), imagestore.Image{Name: "vm", Owner: "s1", Definition: []byte("<domain/>"), MemoryMiB: 64, CPUs: 1}); err != nil {
		t.Fatal(err)
	}
	hv, _ := memhv.New(memhv.DefaultConfig("s1"))
	block := make(chan struct{})
	defer close(block)
	mgr := chanManager{ch: make(chan rack.Status)}
	mon, err := failover.NewMonitor(failover.Config{Server: "s1", Manager: mgr, Store: store, Hypervisor: hv,
		TickInterval: 10 * time.Millisecond,
		OnEvent: func(ev failover.Event) {
			if ev.Type == failover.EventReconciled {
				<-block
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	alive := loopAlive(newLoopGate(mgr, 100*time.Millisecond), mon, 100*time.Millisecond, time.Now)
	if ok, why := alive(); !ok {
		t.Fatalf("before Run: not alive: %s", why)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mon.Run(ctx) }()
	deadline := time.Now().Add(3 * time.Second)
	for {
		ok, why := alive()
		if !ok {
			if !strings.Contains(why, "has not stepped") {
				t.Errorf("why = %q", why)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a loop blocked since boot still reads alive")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
