package etcdlease_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/lease/etcdlease"
)

// pollAliveFalse polls Alive every millisecond until false and returns
// when it first read false. It fails the test if Alive was ever true when
// asked at or after bound (the time is taken before each call, so this
// needs no slack for a busy machine).
func pollAliveFalse(t *testing.T, alive func() (bool, string), bound time.Time, limit time.Duration) time.Time {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		asked := time.Now()
		ok, _ := alive()
		if !ok {
			return time.Now()
		}
		if !asked.Before(bound) {
			t.Fatalf("Alive true when asked %v after the bound", asked.Sub(bound))
		}
	}
	t.Fatalf("Alive still true %v after the partition", limit)
	return time.Time{}
}

// The keeper is cut off from etcd, its requests lost: Alive turns false
// no later than the partition's start + TTL (its last answered renewal
// was sent before it), and no earlier than the watcher, on the other
// side, sees the lease expire. The watcher's Takeover then succeeds; the
// keeper, back, finds the takeover and waits for the release.
func TestPartitionLoseRequests(t *testing.T) {
	t.Parallel()
	prefix := newPrefix()
	p := etcdrig.NewProxy(t, embedded.endpoint)
	k := newStore(t, testConfig(p.Endpoint(), prefix)).Keeper("blade-a")
	ws := newStore(t, testConfig(embedded.endpoint, prefix, "blade-a"))
	w := startWatcher(t, ws, "blade-b")
	runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	w.next("blade-a", 3*time.Second, "held", held)
	time.Sleep(embeddedTTL / 2) // a few renewals

	// Taken after the mode is set: a renewal sent later is lost.
	p.Set(etcdrig.LoseRequests)
	cut := time.Now()
	falseAt := pollAliveFalse(t, k.Alive, cut.Add(embeddedTTL), 2*embeddedTTL)
	delay := falseAt.Sub(cut)
	_, why := k.Alive()
	t.Logf("Alive false %v after the partition (TTL %v): %s", delay.Round(time.Millisecond), embeddedTTL, why)
	// Renewals go every TTL/3: the last answered one was sent at most
	// two intervals before the cut.
	if delay < embeddedTTL/3-100*time.Millisecond {
		t.Errorf("Alive false only %v after the partition: sooner than any renewal schedule explains", delay)
	}
	_, goneAt := w.next("blade-a", embeddedTTL+3*time.Second, "the lease expired in etcd", notHeld)
	t.Logf("watcher saw the lease expire %v after the partition, %v after Alive turned false",
		goneAt.Sub(cut).Round(time.Millisecond), goneAt.Sub(falseAt).Round(time.Millisecond))
	if goneAt.Before(falseAt) {
		t.Fatalf("the watcher saw the lease gone %v before the host stopped being Alive", falseAt.Sub(goneAt))
	}
	if err := ws.Takeover(callCtx(t), "blade-a", "blade-b"); err != nil {
		t.Fatalf("Takeover after the expiry: %v", err)
	}

	p.Cut(etcdrig.Pass) // the partition heals
	waitUntil(t, 5*time.Second, "the keeper, back, finds the takeover", func() bool {
		ok, why := k.Alive()
		return !ok && strings.Contains(why, "taken over")
	})
	time.Sleep(embeddedTTL / 2)
	if ok, why := k.Alive(); ok {
		t.Fatalf("Alive while taken over (%s)", why)
	}
	if err := ws.Release(callCtx(t), "blade-a", "blade-b"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 3*time.Second, "Alive again after the release", func() bool { ok, _ := k.Alive(); return ok })
	w.next("blade-a", 3*time.Second, "held again after the release", held)
}

// The keeper's answers are lost (its requests still reach etcd): Alive
// turns false within the TTL of the partition's start, though etcd keeps
// renewing the lease (the watcher sees it held: the safe side). Healed,
// the keeper is Alive again.
func TestPartitionLoseAnswers(t *testing.T) {
	t.Parallel()
	prefix := newPrefix()
	p := etcdrig.NewProxy(t, embedded.endpoint)
	k := newStore(t, testConfig(p.Endpoint(), prefix)).Keeper("blade-a")
	w := startWatcher(t, newStore(t, testConfig(embedded.endpoint, prefix, "blade-a")), "blade-b")
	runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	w.next("blade-a", 3*time.Second, "held", held)
	time.Sleep(embeddedTTL / 2)

	p.Set(etcdrig.LoseAnswers)
	cut := time.Now()
	falseAt := pollAliveFalse(t, k.Alive, cut.Add(embeddedTTL), 2*embeddedTTL)
	delay := falseAt.Sub(cut)
	t.Logf("Alive false %v after the partition (TTL %v)", delay.Round(time.Millisecond), embeddedTTL)
	if delay < embeddedTTL/3-100*time.Millisecond {
		t.Errorf("Alive false only %v after the partition", delay)
	}
	// etcd got the renewals: the lease must not have been seen gone
	// before the host stopped.
	time.Sleep(embeddedTTL)
	for len(w.reports) > 0 {
		if l := <-w.reports; !l.Held {
			t.Logf("the watcher saw the lease gone during the partition")
		}
	}
	if p.Lost() == 0 {
		t.Fatal("the proxy lost nothing: no answer was sent during the partition")
	}
	p.Cut(etcdrig.Pass)
	waitUntil(t, 5*time.Second, "Alive again after the partition healed", func() bool { ok, _ := k.Alive(); return ok })
}

// Takeover whose answer is lost resolves by reading back.
func TestTakeoverAnswerLost(t *testing.T) {
	t.Parallel()
	prefix := newPrefix()
	raw := rawClient(t, embedded.endpoint)
	tk := prefix + "takeover/blade-a"

	t.Run("ConnectionDroppedAfterApplied", func(t *testing.T) {
		p := etcdrig.NewProxy(t, embedded.endpoint)
		ws := newStore(t, testConfig(p.Endpoint(), prefix))
		if err := ws.Release(callCtx(t), "blade-a", "blade-b"); err != nil { // connect first
			t.Fatal(err)
		}
		p.Set(etcdrig.LoseAnswers)
		errc := make(chan error, 1)
		go func() { errc <- ws.Takeover(callCtx(t), "blade-a", "blade-b") }()
		waitUntil(t, 2*time.Second, "the takeover applied", func() bool { v, _ := value(t, raw, tk); return v == "blade-b" })
		p.Cut(etcdrig.Pass)
		if err := <-errc; err != nil {
			t.Fatalf("Takeover applied, answer lost, read back: err = %v, want nil", err)
		}
		// Release, its answer lost the same way.
		p.Set(etcdrig.LoseAnswers)
		go func() { errc <- ws.Release(callCtx(t), "blade-a", "blade-b") }()
		waitUntil(t, 2*time.Second, "the release applied", func() bool { _, ok := value(t, raw, tk); return !ok })
		p.Cut(etcdrig.Pass)
		if err := <-errc; err != nil {
			t.Fatalf("Release applied, answer lost, read back: err = %v, want nil", err)
		}
	})
	t.Run("AnswersLostThroughout", func(t *testing.T) {
		p := etcdrig.NewProxy(t, embedded.endpoint)
		ws := newStore(t, testConfig(p.Endpoint(), prefix))
		if err := ws.Release(callCtx(t), "blade-a", "blade-b"); err != nil {
			t.Fatal(err)
		}
		p.Set(etcdrig.LoseAnswers)
		start := time.Now()
		err := ws.Takeover(callCtx(t), "blade-a", "blade-b")
		if !errors.Is(err, failover.ErrOutcomeUnknown) || !strings.Contains(err.Error(), tk) {
			t.Fatalf("Takeover with every answer lost: err = %v, want ErrOutcomeUnknown naming %q", err, tk)
		}
		t.Logf("outcome unknown after %v: %v", time.Since(start).Round(time.Millisecond), err)
		if v, _ := value(t, raw, tk); v != "blade-b" {
			t.Fatalf("the takeover whose answer was lost was not applied (key %q = %q)", tk, v)
		}
		p.Cut(etcdrig.Pass)
		reconnected(t, ws)
		if err := ws.Takeover(callCtx(t), "blade-a", "blade-b"); err != nil {
			t.Fatalf("Takeover again after the heal: %v", err)
		}
		if err := ws.Release(callCtx(t), "blade-a", "blade-b"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("RequestsLost", func(t *testing.T) {
		p := etcdrig.NewProxy(t, embedded.endpoint)
		ws := newStore(t, testConfig(p.Endpoint(), prefix))
		if err := ws.Release(callCtx(t), "blade-a", "blade-b"); err != nil {
			t.Fatal(err)
		}
		p.Set(etcdrig.LoseRequests)
		err := ws.Takeover(callCtx(t), "blade-a", "blade-b")
		if !errors.Is(err, failover.ErrOutcomeUnknown) {
			t.Fatalf("Takeover whose request was lost: err = %v, want ErrOutcomeUnknown", err)
		}
		if _, ok := value(t, raw, tk); ok {
			t.Fatalf("a takeover whose request was lost was applied")
		}
		p.Cut(etcdrig.Pass)
		reconnected(t, ws)
		if err := ws.Takeover(callCtx(t), "blade-a", "blade-b"); err != nil {
			t.Fatalf("Takeover after the heal: %v", err)
		}
	})
}

// reconnected waits until s writes again after its connection was cut
// (the first call may meet the cut connection and be outcome unknown).
func reconnected(t *testing.T, s *etcdlease.Store) {
	t.Helper()
	waitUntil(t, 5*time.Second, "the store writes again", func() bool {
		return s.Release(callCtx(t), "nobody", "nobody") == nil
	})
}
