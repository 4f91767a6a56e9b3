package failovertest

import (
	"context"
	"testing"
	"time"

	"github.com/rackha/failover"
)

// leaseRack is a two-server rack with a lease store and the given TTL.
func leaseRack(t *testing.T, ttl time.Duration) *Rack {
	t.Helper()
	r, err := New(Config{LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	r.Run(context.Background(), 3)
	return r
}

// firstEvent returns the first event of type typ about server, or fails.
func firstEvent(t *testing.T, r *Rack, typ failover.EventType, server string) failover.Event {
	t.Helper()
	for _, ev := range r.Events() {
		if ev.Type == typ && ev.Server == server {
			return ev
		}
	}
	t.Fatalf("no %s event about %s; timeline:\n%s", typ, server, joinLines(r.Timeline()))
	return failover.Event{}
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

// A server that loses all power with its BMC is taken over by lease: its
// VMs start on the watcher, not before its lease TTL + watchdog timeout +
// margin have passed since its lease ended.
func TestTotalPowerLossTakenOverByLease(t *testing.T) {
	ctx := context.Background()
	ttl := 4 * time.Second
	r := leaseRack(t, ttl)
	at := r.Now()
	if err := r.Inject(Fault{Kind: TotalPowerLoss, Server: "blade-1", For: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	r.Run(ctx, 60)
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	det := firstEvent(t, r, failover.EventDetected, "blade-1")
	if det.Cause != failover.CauseLeaseExpired {
		t.Fatalf("detected with cause %s, want %s", det.Cause, failover.CauseLeaseExpired)
	}
	bound := ttl + r.cfg.WatchdogTimeout + r.cfg.Policy.LeaseDriftMargin
	if det.Wait < bound {
		t.Errorf("waited %v after the lease ended, want at least %v", det.Wait, bound)
	}
	// The lease ended at most a TTL after the fault (its last renewal).
	if early := at.Add(bound); det.Time.Before(early) {
		t.Errorf("detected at +%v, before fault + bound (+%v)", det.Time.Sub(at), bound)
	}
	started := 0
	for _, ev := range r.Events() {
		if ev.Type == failover.EventBackupStarted && ev.Server == "blade-1" {
			started++
			if ev.Time.Before(det.Time) {
				t.Errorf("%s started at %v, before the takeover by lease at %v", ev.VM, ev.Time, det.Time)
			}
		}
	}
	if started != r.cfg.VMsPerServer {
		t.Errorf("%d backups started, want %d:\n%s", started, r.cfg.VMsPerServer, joinLines(r.Timeline()))
	}
	for _, vm := range []string{"blade-1-vm1", "blade-1-vm2", "blade-1-vm3"} {
		if on := r.Storage.Running(vm); len(on) != 1 || on[0] != "blade-2" {
			t.Errorf("%s runs on %v, want blade-2", vm, on)
		}
	}
	t.Logf("fault to takeover by lease %v (bound %v after the lease ended); to last backup running %v",
		det.Time.Sub(at), bound, lastStart(r, "blade-1").Sub(at))
}

func lastStart(r *Rack, server string) time.Time {
	var last time.Time
	for _, ev := range r.Events() {
		if ev.Type == failover.EventBackupStarted && ev.Server == server && ev.Time.After(last) {
			last = ev.Time
		}
	}
	return last
}

// An isolated host keeps running its VMs until its watchdog, no longer
// kicked once its lease ended, powers it down; only then are they taken
// over, and never run twice.
func TestIsolatedHostTakenOverOnlyOnceItsWatchdogFired(t *testing.T) {
	ctx := context.Background()
	r := leaseRack(t, 3*time.Second)
	at := r.Now()
	if err := r.Inject(Fault{Kind: Isolated, Server: "blade-1", For: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	var offAt time.Time
	for range 80 {
		r.Step(ctx)
		if s := r.Server("blade-1"); !s.up && offAt.IsZero() {
			offAt = r.Now()
		}
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	if offAt.IsZero() {
		t.Fatal("the isolated host never powered down: its watchdog was kicked without a lease")
	}
	if lived := offAt.Sub(at); lived < r.cfg.WatchdogTimeout {
		t.Errorf("host off %v after isolation, sooner than its watchdog timeout %v", lived, r.cfg.WatchdogTimeout)
	}
	det := firstEvent(t, r, failover.EventDetected, "blade-1")
	if det.Cause != failover.CauseLeaseExpired || det.Time.Before(offAt) {
		t.Fatalf("detected %s at +%v; the host went off at +%v", det.Cause, det.Time.Sub(at), offAt.Sub(at))
	}
	if n := len(r.Storage.Running("blade-1-vm1")); n != 1 {
		t.Errorf("blade-1-vm1 runs on %d servers", n)
	}
	t.Logf("host off at +%v (lease then watchdog); takeover by lease at +%v", offAt.Sub(at), det.Time.Sub(at))
}

// A cut from the lease store shorter than the lease changes nothing.
func TestLeaseBlipChangesNothing(t *testing.T) {
	ctx := context.Background()
	r := leaseRack(t, 5*time.Second)
	if err := r.Inject(Fault{Kind: LeaseBlip, Server: "blade-1", For: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r.Run(ctx, 60)
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	for _, ev := range r.Events() {
		if ev.Type == failover.EventDetected {
			t.Fatalf("a lease blip led to a takeover:\n%s", joinLines(r.Timeline()))
		}
	}
	if !r.Server("blade-1").up {
		t.Fatal("blade-1 went down over a lease blip")
	}
}

// The default seeds take servers over by lease, so the simulation's
// lease faults are exercised, not just present.
func TestScenariosTakeOverByLease(t *testing.T) {
	ctx := context.Background()
	byLease, kinds := 0, map[FaultKind]int{}
	for seed := uint64(1); seed <= 100; seed++ {
		r, faults, err := Scenario(ctx, seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range faults {
			kinds[f.Kind]++
		}
		for _, ev := range r.Events() {
			if ev.Type == failover.EventBackupStarted && ev.Cause == failover.CauseLeaseExpired {
				byLease++
			}
		}
	}
	for _, k := range []FaultKind{TotalPowerLoss, Isolated, LeaseCut, LeaseBlip} {
		if kinds[k] == 0 {
			t.Errorf("no %s fault in seeds 1-100", k)
		}
	}
	if byLease == 0 {
		t.Error("no VM taken over by lease in seeds 1-100")
	}
	t.Logf("seeds 1-100: %d backups started by lease; faults %v", byLease, kinds)
}
