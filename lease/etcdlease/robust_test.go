package etcdlease_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/lease/etcdlease"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseOf returns the etcd lease the key is on, or 0.
func leaseOf(t *testing.T, c *clientv3.Client, key string) clientv3.LeaseID {
	t.Helper()
	resp, err := c.Get(callCtx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return 0
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

// The lease key deleted behind the keeper's back (an operator): the
// keeper finds it off its lease at the next renewal and puts it again; the
// watcher sees it gone, then held.
func TestLeaseKeyDeleted(t *testing.T) {
	t.Parallel()
	prefix := newPrefix()
	raw := rawClient(t, embedded.endpoint)
	k := newStore(t, testConfig(embedded.endpoint, prefix)).Keeper("blade-a")
	w := startWatcher(t, newStore(t, testConfig(embedded.endpoint, prefix, "blade-a")), "blade-b")
	runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	lk := prefix + "lease/blade-a"
	id := leaseOf(t, raw, lk)
	w.next("blade-a", 3*time.Second, "held", held)
	if _, err := raw.Delete(callCtx(t), lk); err != nil {
		t.Fatal(err)
	}
	w.next("blade-a", 3*time.Second, "gone after the delete", notHeld)
	w.next("blade-a", embeddedTTL, "held again within a renewal interval or two", held)
	if got := leaseOf(t, raw, lk); got != id {
		t.Fatalf("key put again on lease %x, want the keeper's lease %x (still alive)", got, id)
	}
	// The watcher may see the key before the keeper has its answer.
	waitUntil(t, time.Second, "Alive after the key was put again", func() bool { ok, _ := k.Alive(); return ok })
}

// The lease revoked behind the keeper's back: at the next renewal etcd
// no longer knows it; the keeper is not Alive at once and takes a new
// lease.
func TestLeaseRevoked(t *testing.T) {
	t.Parallel()
	prefix := newPrefix()
	raw := rawClient(t, embedded.endpoint)
	k := newStore(t, testConfig(embedded.endpoint, prefix)).Keeper("blade-a")
	runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	lk := prefix + "lease/blade-a"
	id := leaseOf(t, raw, lk)
	if _, err := raw.Revoke(callCtx(t), id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, embeddedTTL, "a new lease", func() bool {
		got := leaseOf(t, raw, lk)
		return got != 0 && got != id
	})
	waitUntil(t, time.Second, "Alive on the new lease", func() bool { ok, _ := k.Alive(); return ok })
}

func TestKeeperMisuse(t *testing.T) {
	prefix := newPrefix()
	s := newStore(t, testConfig(embedded.endpoint, prefix))
	if err := s.Keeper("a/b").Run(context.Background()); !errors.Is(err, etcdlease.ErrInvalidName) {
		t.Fatalf("Run of a keeper named \"a/b\": err = %v, want ErrInvalidName", err)
	}
	if err := s.Keeper("").DeclareWatchdog(callCtx(t), true); !errors.Is(err, etcdlease.ErrInvalidName) {
		t.Fatalf("DeclareWatchdog of a keeper named \"\": err = %v, want ErrInvalidName", err)
	}
	k := s.Keeper("blade-a")
	runKeeper(t, k)
	waitHeld(t, k, 3*time.Second)
	if err := k.Run(context.Background()); !errors.Is(err, etcdlease.ErrRunning) {
		t.Fatalf("a second Run at once: err = %v, want ErrRunning", err)
	}
	for _, call := range []struct {
		name string
		err  error
	}{
		{"Takeover empty server", s.Takeover(callCtx(t), "", "w")},
		{"Takeover watcher with /", s.Takeover(callCtx(t), "a", "w/x")},
		{"Release empty watcher", s.Release(callCtx(t), "a", "")},
		{"Watch watcher with /", func() error { _, err := s.Watch(callCtx(t), "a/b"); return err }()},
	} {
		if !errors.Is(call.err, etcdlease.ErrInvalidName) {
			t.Errorf("%s: err = %v, want ErrInvalidName", call.name, call.err)
		}
	}
}

// After Close every call fails with ErrClosed, a running Keeper returns
// it, and an open watch closes its channel. A Config.Client stays open.
func TestClose(t *testing.T) {
	prefix := newPrefix()
	raw := rawClient(t, embedded.endpoint)
	cfg := testConfig(embedded.endpoint, prefix, "blade-a")
	cfg.Endpoints, cfg.DialTimeout = nil, 0
	cfg.Client = raw
	s, err := etcdlease.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := s.Keeper("blade-a")
	runDone := make(chan error, 1)
	go func() { runDone <- k.Run(context.Background()) }()
	waitHeld(t, k, 3*time.Second)
	ch, err := s.Watch(context.Background(), "blade-b")
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-runDone:
		if !errors.Is(err, etcdlease.ErrClosed) {
			t.Fatalf("Run after Close: %v, want ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if ok, _ := k.Alive(); ok {
		t.Fatal("Alive after the Store closed")
	}
	for _, err := range []error{
		s.Takeover(callCtx(t), "blade-a", "blade-b"),
		s.Release(callCtx(t), "blade-a", "blade-b"),
		k.DeclareWatchdog(callCtx(t), false),
		func() error { _, err := s.Watch(callCtx(t), "blade-b"); return err }(),
		func() error { _, err := s.LoadWatchdogs(callCtx(t), "blade-b"); return err }(),
	} {
		if !errors.Is(err, etcdlease.ErrClosed) {
			t.Errorf("call after Close: err = %v, want ErrClosed", err)
		}
	}
	if _, err := raw.Get(callCtx(t), "x"); err != nil {
		t.Fatalf("the caller's client was closed: %v", err)
	}
	// A Store of its own closes its watches too.
	own := newStore(t, testConfig(embedded.endpoint, prefix, "blade-a"))
	ch2, err := own.Watch(context.Background(), "blade-b")
	if err != nil {
		t.Fatal(err)
	}
	<-ch2
	own.Close()
	select {
	case _, open := <-ch2:
		if open {
			t.Fatal("a report after Close")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the watch did not close after Close")
	}
	select {
	case _, open := <-ch:
		if open {
			t.Fatal("a report after Close")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the watch on the caller's client did not close after Close")
	}
	if !strings.Contains(s.String(), prefix) {
		t.Errorf("String() = %s", s)
	}
}
