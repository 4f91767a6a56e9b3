package etcdlease_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/lease/etcdlease"
)

// A keeper's lease is Held to a watcher, with the TTL granted; Alive is
// true; a stopped keeper revokes it, and the watcher sees it gone.
func TestKeeperHeldToWatcher(t *testing.T) {
	t.Parallel()
	prefix := newPrefix()
	host := newStore(t, testConfig(embedded.endpoint, prefix))
	w := startWatcher(t, newStore(t, testConfig(embedded.endpoint, prefix, "blade-a")), "blade-b")
	w.next("blade-a", 3*time.Second, "the first report, before any lease", notHeld)

	k := host.Keeper("blade-a")
	if ok, why := k.Alive(); ok || why == "" {
		t.Fatalf("Alive before Run = %v, %q; want false with a reason", ok, why)
	}
	stop := runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	if ok, why := k.Alive(); !ok {
		t.Fatalf("Alive right after Held: false (%s)", why)
	}
	l, _ := w.next("blade-a", 3*time.Second, "Held after the keeper took its lease", held)
	if l.TTL != embeddedTTL || l.Disarmed {
		t.Fatalf("report %+v; want TTL %v, not Disarmed", l, embeddedTTL)
	}
	// Alive across several renewals.
	for range 10 {
		time.Sleep(embeddedTTL / 5)
		if ok, why := k.Alive(); !ok {
			t.Fatalf("Alive while renewing: false (%s)", why)
		}
	}
	stopped := time.Now()
	stop()
	if ok, why := k.Alive(); ok || why != "stopped" {
		t.Fatalf("Alive after Run returned = %v, %q; want false, \"stopped\"", ok, why)
	}
	_, at := w.next("blade-a", 2*time.Second, "gone after the keeper stopped (revoked)", notHeld)
	t.Logf("revoked lease seen gone %v after the keeper's stop", at.Sub(stopped).Round(time.Millisecond))
}

// Takeover is refused while the lease is held; once it is gone, it is
// recorded, twice is nil, another watcher's is refused; a restarted
// keeper cannot take its lease until Release.
func TestTakeoverAndRelease(t *testing.T) {
	t.Parallel()
	prefix := newPrefix()
	watcherStore := newStore(t, testConfig(embedded.endpoint, prefix, "blade-a"))
	w := startWatcher(t, watcherStore, "blade-b")
	k := newStore(t, testConfig(embedded.endpoint, prefix)).Keeper("blade-a")
	stop := runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)

	err := watcherStore.Takeover(callCtx(t), "blade-a", "blade-b")
	if !errors.Is(err, failover.ErrLeaseHeld) {
		t.Fatalf("Takeover while held: err = %v, want ErrLeaseHeld", err)
	}
	stop()
	w.next("blade-a", 2*time.Second, "gone after the keeper stopped", notHeld)
	for i := range 2 {
		if err := watcherStore.Takeover(callCtx(t), "blade-a", "blade-b"); err != nil {
			t.Fatalf("Takeover %d after the lease is gone: %v", i+1, err)
		}
	}
	if err := watcherStore.Takeover(callCtx(t), "blade-a", "blade-c"); !errors.Is(err, etcdlease.ErrTakenOver) {
		t.Fatalf("Takeover by another watcher: err = %v, want ErrTakenOver", err)
	}

	// The host comes back: a new process, a new keeper.
	k2 := newStore(t, testConfig(embedded.endpoint, prefix)).Keeper("blade-a")
	runKeeper(t, k2)
	waitUntil(t, 3*time.Second, "the restarted keeper says it was taken over", func() bool {
		ok, why := k2.Alive()
		return !ok && strings.Contains(why, "taken over by \"blade-b\"")
	})
	if err := watcherStore.Release(callCtx(t), "blade-a", "blade-c"); err != nil {
		t.Fatalf("Release of another watcher's record: %v", err)
	}
	select {
	case <-k2.Held():
		t.Fatal("the restarted keeper took its lease while the takeover is recorded")
	case <-time.After(embeddedTTL):
	}
	if ok, why := k2.Alive(); ok {
		t.Fatalf("restarted keeper Alive while taken over (%s)", why)
	}
	released := time.Now()
	if err := watcherStore.Release(callCtx(t), "blade-a", "blade-b"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	waitHeld(t, k2, 3*time.Second)
	t.Logf("keeper held its lease %v after the release", time.Since(released).Round(time.Millisecond))
	w.next("blade-a", 2*time.Second, "held again after the release", held)
	if err := watcherStore.Takeover(callCtx(t), "blade-a", "blade-b"); !errors.Is(err, failover.ErrLeaseHeld) {
		t.Fatalf("Takeover after the keeper is back: err = %v, want ErrLeaseHeld", err)
	}
	if err := watcherStore.Release(callCtx(t), "blade-a", "blade-b"); err != nil {
		t.Fatalf("Release with no record: %v", err)
	}
}

// etcd grants at least its least TTL (2 s on the embedded etcd): asked for
// 1 s, the keeper and its watchers use the 2 s granted.
func TestGrantedTTLLongerThanAsked(t *testing.T) {
	t.Parallel()
	prefix := newPrefix()
	cfg := testConfig(embedded.endpoint, prefix)
	cfg.TTL = time.Second
	k := newStore(t, cfg).Keeper("blade-a")
	w := startWatcher(t, newStore(t, testConfig(embedded.endpoint, prefix, "blade-a")), "blade-b")
	runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	if l, _ := w.next("blade-a", 3*time.Second, "held", held); l.TTL != embeddedTTL {
		t.Fatalf("report %+v, want the TTL granted, %v", l, embeddedTTL)
	}
}
