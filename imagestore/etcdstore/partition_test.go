package etcdstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/etcdstore"
	"github.com/rackha/failover/imagestore/imagestoretest"
	"github.com/rackha/failover/internal/etcdrig"
)

// partitioned is a Store whose traffic runs through a proxy, and an
// observer Store on the same prefix talking to etcd directly (another
// server, on the right side of the partition).
type partitioned struct {
	proxy    *etcdrig.Proxy
	store    *etcdstore.Store
	observer *etcdstore.Store
	base     imagestore.Image // vm1 as stored, owned by blade-a
}

func newPartitioned(t *testing.T) *partitioned {
	t.Helper()
	p := etcdrig.NewProxy(t, embedded.endpoint)
	prefix := newPrefix()
	pt := &partitioned{
		proxy:    p,
		store:    newStore(t, testConfig(p.Endpoint(), prefix)),
		observer: newStore(t, testConfig(embedded.endpoint, prefix)),
	}
	base, err := pt.store.Put(callCtx(t), imagestoretest.Sample("vm1"))
	if err != nil {
		t.Fatalf("create vm1 through the proxy: %v", err)
	}
	pt.base = base
	return pt
}

// claimAsync claims base for owner on s with a context of limit, and
// hands back the error.
func claimAsync(s imagestore.Store, base imagestore.Image, owner string, limit time.Duration) <-chan error {
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		_, err := imagestore.Claim(ctx, s, base, owner)
		errc <- err
	}()
	return errc
}

func receive(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("the claim did not return within 15s")
		return nil
	}
}

// waitUntil polls cond every 5 ms for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within 5s: %s", what)
}

func generationIs(t *testing.T, s imagestore.Store, gen uint64) func() bool {
	return func() bool {
		img, err := s.Get(callCtx(t), "vm1")
		return err == nil && img.Generation == gen
	}
}

func mustBeUnknown(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, failover.ErrOutcomeUnknown) {
		t.Fatalf("claim whose answer was lost: err = %v, want one wrapping failover.ErrOutcomeUnknown", err)
	}
	if errors.Is(err, imagestore.ErrStaleGeneration) {
		t.Fatalf("claim whose answer was lost: err = %v wraps ErrStaleGeneration", err)
	}
	if !strings.Contains(err.Error(), "/images/vm1") {
		t.Errorf("error %q does not name the key", err)
	}
	t.Logf("outcome unknown: %v", err)
}

// resolve does what the engine does with a claim of unknown outcome:
// claim again at the generation it read. It reports whether owner holds
// the image now, at base's next generation, and by which claim.
func resolve(t *testing.T, s imagestore.Store, base imagestore.Image, owner string) (ours, byEarlierClaim bool) {
	t.Helper()
	_, err := imagestore.Claim(callCtx(t), s, base, owner)
	if err == nil {
		return true, false
	}
	if !errors.Is(err, imagestore.ErrStaleGeneration) {
		t.Fatalf("claim again after an unknown outcome: %v", err)
	}
	cur, err := s.Get(callCtx(t), base.Name)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return cur.Owner == owner && cur.Generation == base.Generation+1, true
}

// checkClaimedOnce checks the image moved exactly once, to owner.
func checkClaimedOnce(t *testing.T, s imagestore.Store, base imagestore.Image, owner string) {
	t.Helper()
	cur, err := s.Get(callCtx(t), base.Name)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Owner != owner || cur.Generation != base.Generation+1 || cur.PreviousOwner != base.Owner {
		t.Fatalf("after the claim: owner %q generation %d previous owner %q, want %q at %d from %q",
			cur.Owner, cur.Generation, cur.PreviousOwner, owner, base.Generation+1, base.Owner)
	}
}

// The claim reaches etcd and is applied; its answer is lost and the
// connection drops. The claim is outcome unknown; reading back shows it
// happened, once.
func TestPartitionAnswerLostAfterApply(t *testing.T) {
	pt := newPartitioned(t)
	pt.proxy.Set(etcdrig.LoseAnswers)
	errc := claimAsync(pt.store, pt.base, "blade-b", 10*time.Second)
	waitUntil(t, "the claim applied in etcd", generationIs(t, pt.observer, pt.base.Generation+1))
	pt.proxy.Cut(etcdrig.Pass)
	mustBeUnknown(t, receive(t, errc))

	ours, earlier := resolve(t, pt.store, pt.base, "blade-b")
	if !ours || !earlier {
		t.Fatalf("resolving by reading back: ours %v by the earlier claim %v, want both", ours, earlier)
	}
	checkClaimedOnce(t, pt.observer, pt.base, "blade-b")
}

// The claim never reaches etcd; the connection drops. Outcome unknown
// again; reading back shows nothing happened, and the next claim is the
// only one. Another server claiming meanwhile wins instead: one owner.
func TestPartitionRequestLost(t *testing.T) {
	for _, rival := range []bool{false, true} {
		name := map[bool]string{false: "alone", true: "rival claims meanwhile"}[rival]
		t.Run(name, func(t *testing.T) {
			pt := newPartitioned(t)
			pt.proxy.Set(etcdrig.LoseRequests)
			errc := claimAsync(pt.store, pt.base, "blade-b", 10*time.Second)
			waitUntil(t, "the claim's request lost", func() bool { return pt.proxy.Lost() > 0 })
			time.Sleep(50 * time.Millisecond) // the whole request, should it take several writes
			pt.proxy.Cut(etcdrig.Pass)
			mustBeUnknown(t, receive(t, errc))
			if !generationIs(t, pt.observer, pt.base.Generation)() {
				t.Fatal("a claim whose request was lost changed the image")
			}
			want := "blade-b"
			if rival {
				if _, err := imagestore.Claim(callCtx(t), pt.observer, pt.base, "blade-c"); err != nil {
					t.Fatalf("rival claim: %v", err)
				}
				want = "blade-c"
			}
			ours, earlier := resolve(t, pt.store, pt.base, "blade-b")
			if ours != !rival || earlier != rival {
				t.Fatalf("resolving by reading back: ours %v by an earlier claim %v, want %v and %v", ours, earlier, !rival, rival)
			}
			checkClaimedOnce(t, pt.observer, pt.base, want)
		})
	}
}

// The answer is held until the caller's deadline: outcome unknown, and
// the error still says the deadline passed. A read that times out the same
// way is a plain error.
func TestPartitionDeadline(t *testing.T) {
	pt := newPartitioned(t)
	pt.proxy.Set(etcdrig.LoseAnswers)
	err := receive(t, claimAsync(pt.store, pt.base, "blade-b", 300*time.Millisecond))
	mustBeUnknown(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("claim past its deadline: err = %v, want one wrapping context.DeadlineExceeded too", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = pt.store.Get(ctx, "vm1")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, failover.ErrOutcomeUnknown) {
		t.Fatalf("Get past its deadline: err = %v, want DeadlineExceeded and not outcome unknown", err)
	}
	pt.proxy.Cut(etcdrig.Pass)
	ours, earlier := resolve(t, pt.store, pt.base, "blade-b")
	if !ours || !earlier {
		t.Fatalf("resolving by reading back: ours %v by the earlier claim %v, want both", ours, earlier)
	}
	checkClaimedOnce(t, pt.observer, pt.base, "blade-b")
}
