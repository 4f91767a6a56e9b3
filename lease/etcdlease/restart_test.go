package etcdlease_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/internal/etcdrig"
)

// Debian's etcd-server, killed (SIGKILL) and started again on its data
// dir: the keeper is not Alive within its TTL of the kill, takes (or
// renews) a lease once etcd is back, and a watch (watching again as the
// Monitor does) reports it held with its TTL. A Takeover meanwhile is
// refused: the store refuses it, or it is outcome unknown.
func TestExternalRestart(t *testing.T) {
	t.Parallel()
	x := etcdrig.StartExternal(t)
	const ttl = time.Second // the external etcd's least TTL
	prefix := newPrefix()
	hcfg := testConfig(x.Endpoint, prefix)
	hcfg.TTL = ttl
	k := newStore(t, hcfg).Keeper("blade-a")
	wcfg := testConfig(x.Endpoint, prefix, "blade-a")
	wcfg.TTL = ttl
	ws := newStore(t, wcfg)
	w := startWatcher(t, ws, "blade-b")
	stop := runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	if l, _ := w.next("blade-a", 3*time.Second, "held", held); l.TTL != ttl {
		t.Fatalf("report %+v, want TTL %v", l, ttl)
	}

	x.Kill()
	killed := time.Now() // after the kill: no answer comes later
	falseAt := pollAliveFalse(t, k.Alive, killed.Add(ttl), 3*ttl)
	t.Logf("Alive false %v after etcd was killed (TTL %v)", falseAt.Sub(killed).Round(time.Millisecond), ttl)
	if err := ws.Takeover(callCtx(t), "blade-a", "blade-b"); !errors.Is(err, failover.ErrOutcomeUnknown) {
		t.Fatalf("Takeover while etcd is down: err = %v, want ErrOutcomeUnknown", err)
	}
	time.Sleep(2 * ttl)

	started := time.Now()
	x.Start()
	// The takeover tried while etcd was down never reached it; a keeper
	// whose lease survived (etcd restores leases and extends them) renews
	// it, else takes a new one. (etcd restores its leases on a restart and
	// extends them by their TTL, so the lease key never went away.)
	waitUntil(t, 10*time.Second, "Alive again after the restart", func() bool { ok, _ := k.Alive(); return ok })
	t.Logf("Alive again %v after etcd started", time.Since(started).Round(time.Millisecond))
	// A fresh watch reads it held, with its TTL.
	ch, err := ws.Watch(callCtx(t), "blade-b")
	if err != nil {
		t.Fatal(err)
	}
	if l := <-ch; !l.Held || l.TTL != ttl {
		t.Fatalf("a watch after the restart reports %+v, want Held with TTL %v", l, ttl)
	}
	if err := ws.Takeover(callCtx(t), "blade-a", "blade-b"); !errors.Is(err, failover.ErrLeaseHeld) {
		t.Fatalf("Takeover after the restart: err = %v, want ErrLeaseHeld", err)
	}
	// The watch that ran across the restart (resumed by the client, or
	// watched again) still reports: the keeper stops, the lease goes.
	stop()
	w.next("blade-a", 5*time.Second, "gone after the keeper stopped, on the watch that ran across the restart", notHeld)
}
