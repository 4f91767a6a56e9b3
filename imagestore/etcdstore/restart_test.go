package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/imagestoretest"
	"github.com/rackha/failover/internal/etcdrig"
)

// etcd crashes (SIGKILL) and starts again on the same data dir: every
// acknowledged claim is still there, a claim tried while it was down is
// outcome unknown and resolved by reading back, and the same Store (its
// client) goes on working without being recreated.
func TestExternalRestart(t *testing.T) {
	x := etcdrig.StartExternal(t)
	prefix := newPrefix()
	a := newStore(t, testConfig(x.Endpoint, prefix))
	b := newStore(t, testConfig(x.Endpoint, prefix))

	img, err := a.Put(callCtx(t), imagestoretest.Sample("vm1"))
	if err != nil {
		t.Fatal(err)
	}
	// Five acknowledged claims, alternating between two servers.
	stores := []imagestore.Store{a, b}
	for i := range 5 {
		owner := fmt.Sprintf("blade-%d", i)
		if img, err = imagestore.Claim(callCtx(t), stores[i%2], img, owner); err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	acked := img

	x.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err = imagestore.Claim(ctx, a, acked, "blade-down")
	cancel()
	if !errors.Is(err, failover.ErrOutcomeUnknown) {
		t.Fatalf("claim while etcd is down: err = %v, want one wrapping failover.ErrOutcomeUnknown", err)
	}

	x.Start()
	var got imagestore.Image
	waitUntil(t, "the Store reads again after the restart", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		got, err = a.Get(ctx, "vm1")
		return err == nil
	})
	switch {
	case got.Generation == acked.Generation && got.Owner == acked.Owner:
		// The claim tried while etcd was down never reached it.
	case got.Generation == acked.Generation+1 && got.Owner == "blade-down":
		t.Logf("the claim tried while etcd was down was applied")
	default:
		t.Fatalf("after the restart: owner %q at generation %d; acknowledged was %q at %d", got.Owner, got.Generation, acked.Owner, acked.Generation)
	}
	if ours, _ := resolve(t, a, acked, "blade-down"); !ours {
		t.Fatal("resolving the claim tried while etcd was down: not ours")
	}
	checkClaimedOnce(t, b, acked, "blade-down")

	// Both servers race for the next generation after the restart: one wins.
	cur, err := b.Get(callCtx(t), "vm1")
	if err != nil {
		t.Fatal(err)
	}
	ea := claimAsync(a, cur, "blade-x", 5*time.Second)
	eb := claimAsync(b, cur, "blade-y", 5*time.Second)
	errA, errB := receive(t, ea), receive(t, eb)
	if (errA == nil) == (errB == nil) {
		t.Fatalf("two claims at generation %d after the restart: errors %v and %v, want exactly one success", cur.Generation, errA, errB)
	}
	for _, err := range []error{errA, errB} {
		if err != nil && !errors.Is(err, imagestore.ErrStaleGeneration) {
			t.Fatalf("losing claim: %v, want ErrStaleGeneration", err)
		}
	}
}
