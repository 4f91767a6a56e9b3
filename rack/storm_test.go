package rack_test

import (
	"context"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// rackFailed returns each server's RackFailed in sts.
func rackFailed(t *testing.T, sts []rack.Status, size int) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, st := range sts {
		if st.RackSize != size {
			t.Errorf("%s: RackSize %d, want %d", st.Server, st.RackSize, size)
		}
		m[st.Server] = st.RackFailed
	}
	return m
}

// RackFailed counts the servers seen off, faulted, with an expired
// watchdog or unreachable within StormWindow of each status, by the
// statuses' Time; threshold noise does not count.
func TestRackFailedCountsHardSignalsWithinTheWindow(t *testing.T) {
	ctx := context.Background()
	topo, _ := rack.Ring("s1", "s2", "s3", "s4", "s5")
	r := newSimRack(t, topo, nil) // StormWindow: default 30 s
	check := func(step string, sts []rack.Status, want map[string]int) {
		t.Helper()
		got := rackFailed(t, sts, 5)
		for s, w := range want {
			if got[s] != w {
				t.Errorf("%s: %s's RackFailed = %d, want %d (all: %v)", step, s, got[s], w, got)
			}
		}
	}
	if err := r.bmc["s4"].Arm(ctx, 5*time.Second, watchdog.ActionNone); err != nil {
		t.Fatal(err)
	}
	check("healthy", r.l.Poll(ctx), map[string]int{"s1": 0, "s2": 0, "s3": 0, "s4": 0, "s5": 0})

	// Threshold noise: a temperature and a rail past their critical limits.
	if err := r.bmc["s5"].SetValue("CPU0 Temp", 99); err != nil {
		t.Fatal(err)
	}
	if err := r.bmc["s5"].SetValue("P12V", 10.5); err != nil {
		t.Fatal(err)
	}
	check("noise", r.l.Poll(ctx), map[string]int{"s5": 0})

	r.clock.Advance(time.Second)
	r.bmc["s2"].LosePower()
	r.bmc["s3"].SetUnreachable(true)
	r.bmc["s1"].SetFault(true, "CPU IERR")
	// In order: s1 sees itself; s2 sees s1 and itself; ...
	check("hard faults", r.l.Poll(ctx), map[string]int{"s1": 1, "s2": 2, "s3": 3, "s4": 3, "s5": 3})
	t0 := r.clock.Now()

	r.clock.Advance(6 * time.Second) // s4's watchdog expires, nobody kicks it
	r.bmc["s1"].SetFault(false, "")
	// s1 is healthy again, so it no longer counts; it is read before s4
	// in the round, so it does not see s4 yet.
	check("watchdog", r.l.Poll(ctx), map[string]int{"s1": 2, "s4": 3, "s5": 3})

	// A fast status carries the count too, and keeps s4's watchdog
	// expiry (which it cannot read) from the last full status.
	fast := r.l.FastPoll(ctx)
	check("fast", fast, map[string]int{"s1": 3, "s4": 3})
	for _, st := range fast {
		if !st.Fast {
			t.Fatalf("FastPoll gave %+v", st)
		}
	}

	r.bmc["s3"].SetUnreachable(false)
	r.bmc["s2"].RestorePower()
	if err := r.bmc["s2"].SetPower(ctx, bmc.PowerActionOn); err != nil {
		t.Fatal(err)
	}
	if err := r.bmc["s4"].Arm(ctx, time.Hour, watchdog.ActionNone); err != nil {
		t.Fatal(err)
	}
	// s2, s3 and s4 are healthy again but each counts until it is read:
	// as seen failed within the window and not healthy since. Once every
	// server was read healthy, nobody counts: a failure that came back
	// is no part of a storm.
	r.clock.Advance(t0.Add(30 * time.Second).Sub(r.clock.Now()))
	check("recovered", r.l.Poll(ctx), map[string]int{"s1": 3, "s2": 2, "s3": 1, "s4": 0, "s5": 0})
	check("all healthy", r.l.Poll(ctx), map[string]int{"s1": 0, "s5": 0})
	if last, _ := r.l.Journal("s5").Last(); last.RackFailed != 0 || last.RackSize != 5 {
		t.Errorf("journaled status lacks the storm input: %+v", last)
	}
}

// StormWindow set by the caller is kept and used.
func TestRackFailedFollowsStormWindow(t *testing.T) {
	ctx := context.Background()
	topo, _ := rack.Pairs("a", "b")
	r := newSimRack(t, topo, func(c *rack.LocalConfig) { c.StormWindow = 2 * time.Second })
	r.bmc["a"].LosePower()
	if got := byServer(r.l.Poll(ctx))["b"].RackFailed; got != 1 {
		t.Fatalf("RackFailed = %d, want 1", got)
	}
	r.bmc["a"].RestorePower()
	if err := r.bmc["a"].SetPower(ctx, bmc.PowerActionOn); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(2*time.Second + time.Nanosecond)
	if got := byServer(r.l.Poll(ctx))["b"].RackFailed; got != 0 {
		t.Errorf("RackFailed = %d 2 s after the failure with a 2 s window, want 0", got)
	}
}
