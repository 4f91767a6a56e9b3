package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// loopGate tells whether a monitor's main loop takes its statuses. It
// sits between the rack manager's client and the monitor: every status passes through an unbuffered
// channel, which only the monitor's Run loop reads. A status that has
// waited longer than stallAfter for the loop means the loop is stuck.
// While no status waits (the rack manager is down) the gate says alive:
// a rack manager outage must not power-cycle every server; the loop's
// ticks (Monitor.LastStep) then tell.
type loopGate struct {
	next       rack.Manager
	stallAfter time.Duration
	now        func() time.Time

	mu      sync.Mutex
	waiting time.Time // when the status the loop has not taken yet arrived; zero: none waits
}

func newLoopGate(next rack.Manager, stallAfter time.Duration) *loopGate {
	return &loopGate{next: next, stallAfter: stallAfter, now: time.Now}
}

// Watch relays next's statuses one at a time.
func (g *loopGate) Watch(ctx context.Context, watcher string) (<-chan rack.Status, error) {
	in, err := g.next.Watch(ctx, watcher)
	if err != nil {
		return nil, err
	}
	out := make(chan rack.Status)
	go func() {
		defer close(out)
		for st := range in {
			g.set(g.now())
			select {
			case out <- st:
				g.set(time.Time{})
			case <-ctx.Done():
				g.set(time.Time{})
				return
			}
		}
	}()
	return out, nil
}

// Power is next's.
func (g *loopGate) Power(ctx context.Context, server string, action bmc.PowerAction) error {
	return g.next.Power(ctx, server, action)
}

func (g *loopGate) set(t time.Time) {
	g.mu.Lock()
	g.waiting = t
	g.mu.Unlock()
}

// alive is false, with why, when a status has waited past stallAfter.
func (g *loopGate) alive() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiting.IsZero() {
		return true, ""
	}
	if d := g.now().Sub(g.waiting); d > g.stallAfter {
		return false, fmt.Sprintf("the monitor's loop has not taken a status for %v (stall_after %v)", d.Round(time.Millisecond), g.stallAfter)
	}
	return true, ""
}

// loopAlive joins the two signs of a live monitor loop: it takes the
// statuses waiting for it (the gate), and it steps its engine at least
// every tick (Monitor.LastStep), which also holds while the rack manager
// is silent.
func loopAlive(gate *loopGate, mon *failover.Monitor, stallAfter time.Duration, now func() time.Time) func() (bool, string) {
	return func() (bool, string) {
		if ok, why := gate.alive(); !ok {
			return false, why
		}
		if last := mon.LastStep(); !last.IsZero() {
			if d := now().Sub(last); d > stallAfter {
				return false, fmt.Sprintf("the monitor's loop has not stepped for %v (stall_after %v)", d.Round(time.Millisecond), stallAfter)
			}
		}
		return true, ""
	}
}

// gatedWatchdog kicks only while the monitor's loop is alive, so a hung
// daemon lets the BMC's watchdog expire as a hung OS would.
type gatedWatchdog struct {
	watchdog.Watchdog
	alive func() (bool, string)
}

// Kick refuses while the loop is stalled.
func (g gatedWatchdog) Kick(ctx context.Context) error {
	if ok, why := g.alive(); !ok {
		return fmt.Errorf("not kicking the watchdog: %s", why)
	}
	return g.Watchdog.Kick(ctx)
}

// gatedDisarmer is a gatedWatchdog whose watchdog can be disarmed.
type gatedDisarmer struct{ gatedWatchdog }

// Disarm is the inner watchdog's.
func (g gatedDisarmer) Disarm(ctx context.Context) error {
	return g.Watchdog.(watchdog.Disarmer).Disarm(ctx)
}

// loopGated gates w on alive; the result is a watchdog.Disarmer only
// when w is one, so nothing (a lease store's declaration) takes it for
// disarmed when it cannot be.
func loopGated(w watchdog.Watchdog, alive func() (bool, string)) watchdog.Watchdog {
	g := gatedWatchdog{Watchdog: w, alive: alive}
	if _, ok := w.(watchdog.Disarmer); ok {
		return gatedDisarmer{g}
	}
	return g
}
