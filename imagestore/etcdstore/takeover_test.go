package etcdstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/internal/takeoverrig"
	"github.com/rackha/failover/rack"
)

// losesFirstClaim is the partitioned Store with one fault: once armed,
// the next Put reaches etcd and is applied, but its answer is lost.
type losesFirstClaim struct {
	*partitioned
	t     *testing.T
	armed atomic.Bool
	lost  atomic.Int32
}

func (l *losesFirstClaim) Get(ctx context.Context, name string) (imagestore.Image, error) {
	return l.store.Get(ctx, name)
}
func (l *losesFirstClaim) List(ctx context.Context) ([]imagestore.Image, error) {
	return l.store.List(ctx)
}
func (l *losesFirstClaim) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	if !l.armed.CompareAndSwap(true, false) {
		return l.store.Put(ctx, img)
	}
	l.proxy.Set(etcdrig.LoseAnswers)
	done := make(chan struct{})
	go func() { // cut the connection once etcd has the claim
		defer close(done)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if cur, err := l.observer.Get(ctx, img.Name); err == nil && cur.Generation > img.Generation {
				break
			}
		}
		l.proxy.Cut(etcdrig.Pass)
	}()
	out, err := l.store.Put(ctx, img)
	<-done
	l.lost.Add(1)
	return out, err
}

func simHost(t *testing.T, name string) (takeoverrig.Host, *simbmc.BMC) {
	t.Helper()
	b, err := simbmc.New(simbmc.DefaultConfig(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return takeoverrig.Host{Name: name, Roles: rack.Server{Sensors: b, Health: b, Watchdog: b, Power: b},
		Power: func() (bmc.PowerState, error) { return b.HostPower(), nil }}, b
}

// A failover.Monitor takes a failed server's VM over through the etcd
// store, whose claim answer is lost after etcd applied it: the Monitor
// claims again, finds the VM its own, and runs exactly one copy.
func TestTakeoverWithLostClaim(t *testing.T) {
	lossy := &losesFirstClaim{partitioned: newPartitioned(t), t: t}
	ha, a := simHost(t, "a")
	hb, _ := simHost(t, "b")
	r := takeoverrig.Start(t, takeoverrig.Config{Watched: ha, Watcher: hb, Store: lossy})
	r.WaitPolled(2)
	lossy.armed.Store(true) // the next Put is vm-a's claim
	a.SetFault(true, "processor IERR")
	r.WaitEvent(failover.EventBackupStarted, "vm-a")
	r.RunsOnlyOn("vm-a", r.Watcher)
	if lossy.lost.Load() != 1 {
		t.Fatalf("%d claims lost their answer, want 1", lossy.lost.Load())
	}
	img, err := lossy.observer.Get(callCtx(t), "vm-a")
	if err != nil || img.Owner != "b" || img.PreviousOwner != "a" || img.Generation != 2 {
		t.Fatalf("vm-a in etcd: %+v, %v; want owned by b at generation 2 (claimed once)", img, err)
	}
}
