package etcdlease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/clock"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/lease/etcdlease"
	"github.com/rackha/failover/watchdog"
)

// GateWatchdog on a simulated BMC (on a manual clock, so a kick shows in
// Remaining exactly): Arm declares "armed"; Kick kicks only while Alive;
// Disarm refuses, leaving the watchdog armed, while the declaration
// cannot be written; once it can, Disarm declares "disarmed" and the
// watcher reports Disarmed.
func TestGateWatchdog(t *testing.T) {
	t.Parallel()
	prefix := newPrefix()
	p := etcdrig.NewProxy(t, embedded.endpoint)
	k := newStore(t, testConfig(p.Endpoint(), prefix)).Keeper("blade-a")
	raw := rawClient(t, embedded.endpoint)
	w := startWatcher(t, newStore(t, testConfig(embedded.endpoint, prefix, "blade-a")), "blade-b")
	clk := clock.NewManual(time.Unix(1e9, 0))
	cfg := simbmc.DefaultConfig("blade-a")
	cfg.Clock = clk
	b, err := simbmc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := etcdlease.GateWatchdog(b, k)
	if _, ok := g.(watchdog.Disarmer); !ok {
		t.Fatal("GateWatchdog's result does not implement watchdog.Disarmer")
	}
	const timeout = 30 * time.Second
	remaining := func() time.Duration {
		st, err := g.State(callCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			t.Fatalf("watchdog not running: %+v", st)
		}
		return st.Remaining
	}

	if err := g.Kick(callCtx(t)); !errors.Is(err, etcdlease.ErrNotAlive) {
		t.Fatalf("Kick before the keeper runs: err = %v, want ErrNotAlive", err)
	}
	runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	if err := g.Arm(callCtx(t), timeout, watchdog.ActionPowerDown); err != nil {
		t.Fatalf("Arm: %v", err)
	}
	if v, _ := value(t, raw, prefix+"watchdog/blade-a"); v != "armed" {
		t.Fatalf("declaration after Arm = %q, want \"armed\"", v)
	}
	clk.Advance(5 * time.Second)
	if err := g.Kick(callCtx(t)); err != nil {
		t.Fatalf("Kick while Alive: %v", err)
	}
	if r := remaining(); r != timeout {
		t.Fatalf("Remaining after a kick while Alive = %v, want %v", r, timeout)
	}

	p.Set(etcdrig.LoseRequests)
	waitUntil(t, 2*embeddedTTL, "not Alive in the partition", func() bool { ok, _ := k.Alive(); return !ok })
	clk.Advance(5 * time.Second)
	if err := g.Kick(callCtx(t)); !errors.Is(err, etcdlease.ErrNotAlive) {
		t.Fatalf("Kick while not Alive: err = %v, want ErrNotAlive", err)
	} else {
		t.Logf("kick refused: %v", err)
	}
	if r := remaining(); r != timeout-5*time.Second {
		t.Fatalf("Remaining after a refused kick = %v, want %v (not kicked)", r, timeout-5*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err = g.(watchdog.Disarmer).Disarm(ctx)
	cancel()
	if err == nil {
		t.Fatal("Disarm while the declaration cannot be written: nil")
	}
	t.Logf("disarm refused: %v", err)
	remaining() // still running: not disarmed
	if err := g.Kick(callCtx(t)); errors.Is(err, watchdog.ErrNotArmed) {
		t.Fatal("the refused Disarm disarmed the watchdog")
	}

	p.Cut(etcdrig.Pass)
	waitUntil(t, 5*time.Second, "Alive again after the heal", func() bool { ok, _ := k.Alive(); return ok })
	if err := g.Kick(callCtx(t)); err != nil {
		t.Fatalf("Kick after the heal: %v", err)
	}
	if err := g.(watchdog.Disarmer).Disarm(callCtx(t)); err != nil {
		t.Fatalf("Disarm: %v", err)
	}
	if st, _ := b.State(callCtx(t)); st.Running {
		t.Fatalf("still running after Disarm: %+v", st)
	}
	w.next("blade-a", 3*time.Second, "Disarmed after Disarm", func(l failover.Lease) bool { return l.Held && l.Disarmed })
	if err := g.Arm(callCtx(t), timeout, watchdog.ActionPowerDown); err != nil {
		t.Fatal(err)
	}
	w.next("blade-a", 3*time.Second, "armed again after Arm", func(l failover.Lease) bool { return !l.Disarmed })
}

// A watchdog that cannot be disarmed: Disarm declares nothing.
func TestGateWatchdogNoDisarmer(t *testing.T) {
	prefix := newPrefix()
	raw := rawClient(t, embedded.endpoint)
	k := newStore(t, testConfig(embedded.endpoint, prefix)).Keeper("blade-a")
	b, err := simbmc.New(simbmc.DefaultConfig("blade-a"))
	if err != nil {
		t.Fatal(err)
	}
	g := etcdlease.GateWatchdog(b.InBand(), k)
	if err := g.(watchdog.Disarmer).Disarm(callCtx(t)); !errors.Is(err, etcdlease.ErrCannotDisarm) {
		t.Fatalf("Disarm of a watchdog without Disarm: err = %v, want ErrCannotDisarm", err)
	}
	if _, ok := value(t, raw, prefix+"watchdog/blade-a"); ok {
		t.Fatal("a declaration was written for a watchdog that cannot be disarmed")
	}
}

// deadlineWatchdog records the deadline of each Kick's context.
type deadlineWatchdog struct {
	watchdog.Watchdog
	deadlines chan time.Time
}

func (d deadlineWatchdog) Kick(ctx context.Context) error {
	dl, _ := ctx.Deadline()
	d.deadlines <- dl
	return nil
}

// A kick's context ends no later than the lease by the host's clock, so
// a kick held up in the BMC call is abandoned when the lease ends.
func TestGateKickDeadline(t *testing.T) {
	t.Parallel()
	k := newStore(t, testConfig(embedded.endpoint, newPrefix())).Keeper("blade-a")
	runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	d := deadlineWatchdog{deadlines: make(chan time.Time, 1)}
	g := etcdlease.GateWatchdog(d, k)
	before := time.Now()
	if err := g.Kick(context.Background()); err != nil {
		t.Fatal(err)
	}
	dl := <-d.deadlines
	if dl.IsZero() || dl.After(before.Add(embeddedTTL)) {
		t.Fatalf("kick's deadline %v after the call began; want within the TTL %v", dl.Sub(before), embeddedTTL)
	}
	t.Logf("kick's deadline: %v after the call", dl.Sub(before).Round(time.Millisecond))
}
