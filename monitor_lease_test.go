package failover_test

import (
	"context"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/lease/memlease"
	"github.com/rackha/failover/watchdog"
)

// leasePolicy takes a server over by lease on a test's time scale.
func leasePolicy() failover.Policy {
	p := fastPolicy()
	p.LeaseDriftMargin = 50 * time.Millisecond
	p.MaxStatusGap = 500 * time.Millisecond
	return p
}

// b1 loses all power and its BMC with it: with a lease store, b2 takes
// its VMs over once b1's lease is gone for TTL + watchdog + margin, records
// the takeover, and releases it at the restart.
func TestMonitorTakesOverByLease(t *testing.T) {
	ctx := context.Background()
	p := newPair(t, 2, nil)
	if err := p.b1.Arm(ctx, 200*time.Millisecond, watchdog.ActionPowerDown); err != nil {
		t.Fatal(err)
	}
	kick, stopKick := context.WithCancel(ctx)
	defer stopKick()
	go func() {
		for kick.Err() == nil {
			_ = p.b1.Kick(kick)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	leases := memlease.New()
	ttl := 100 * time.Millisecond
	if err := leases.Hold("b1", ttl); err != nil {
		t.Fatal(err)
	}
	m, err := failover.NewMonitor(failover.Config{
		Server: "b2", Manager: p.mgr, Store: p.store, Hypervisor: p.hv2, Policy: leasePolicy(), Leases: leases,
		Peers: map[string]hypervisor.Hypervisor{"b1": p.hv1}, TickInterval: 10 * time.Millisecond, OnEvent: p.record, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, p.mgr, m)
	if !waitUntil(5*time.Second, func() bool { return p.countType(failover.EventWatchdogSeen) > 0 }) {
		t.Fatalf("b1's armed watchdog never seen:%v", p.String())
	}
	stopKick()
	p.b1.SetUnreachable(true)
	p.b1.LosePower()
	p.hv1.PowerOff()
	gone := time.Now()
	leases.Expire("b1")
	if !waitUntil(10*time.Second, func() bool { return runningOn(p, 2) }) {
		t.Fatalf("VMs not taken over by lease:%v", p.String())
	}
	bound := ttl + 200*time.Millisecond + 50*time.Millisecond
	if took := time.Since(gone); took < bound {
		t.Errorf("taken over %v after the lease ended, before the bound %v", took, bound)
	}
	if n := p.count(func(ev failover.Event) bool {
		return ev.Type == failover.EventDetected && ev.Cause == failover.CauseLeaseExpired && ev.Wait >= bound
	}); n != 1 {
		t.Errorf("%d lease-expired detections waiting at least %v:%v", n, bound, p.String())
	}
	if !waitUntil(5*time.Second, func() bool { return p.countType(failover.EventAlert) > 0 && leases.TakenBy("b1") == "" }) {
		t.Errorf("takeover record not released at the restart (taken by %q):%v", leases.TakenBy("b1"), p.String())
	}
	seen, _ := leases.LoadWatchdogs(ctx, "b2")
	if st, ok := seen["b1"]; !ok || st.Action != watchdog.ActionPowerDown || st.Timeout != 200*time.Millisecond {
		t.Errorf("journal has %+v for b1, want power-down after 200ms", seen)
	}
}

// A watcher started after b1's BMC died knows b1's watchdog only from the
// journal: with it b1 is taken over, without it not.
func TestMonitorTakesOverByLeaseFromTheJournal(t *testing.T) {
	for _, journaled := range []bool{true, false} {
		t.Run(map[bool]string{true: "journaled", false: "not-journaled"}[journaled], func(t *testing.T) {
			ctx := context.Background()
			p := newPair(t, 1, nil)
			p.b1.SetUnreachable(true)
			p.b1.LosePower()
			p.hv1.PowerOff()
			leases := memlease.New()
			if err := leases.Hold("b1", 50*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			leases.Expire("b1")
			if journaled {
				if err := leases.SaveWatchdog(ctx, "b2", "b1", watchdog.State{Running: true, Action: watchdog.ActionHardReset, Timeout: 100 * time.Millisecond}); err != nil {
					t.Fatal(err)
				}
			}
			m, err := failover.NewMonitor(failover.Config{
				Server: "b2", Manager: p.mgr, Store: p.store, Hypervisor: p.hv2, Policy: leasePolicy(), Leases: leases,
				Peers: map[string]hypervisor.Hypervisor{"b1": p.hv1}, TickInterval: 10 * time.Millisecond, OnEvent: p.record, Logger: quiet,
			})
			if err != nil {
				t.Fatal(err)
			}
			run(t, p.mgr, m)
			took := waitUntil(2*time.Second, func() bool { return runningOn(p, 1) })
			if took != journaled {
				t.Fatalf("taken over: %v, want %v:%v", took, journaled, p.String())
			}
		})
	}
}

// runningOn reports whether b2 runs n VMs.
func runningOn(p *pair, n int) bool {
	vms, err := p.hv2.List(context.Background())
	if err != nil {
		return false
	}
	running := 0
	for _, vm := range vms {
		if vm.State == hypervisor.StateRunning {
			running++
		}
	}
	return running == n
}
