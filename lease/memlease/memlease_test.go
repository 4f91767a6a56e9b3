package memlease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/lease/memlease"
)

func TestTakeoverAndLeaseExcludeEachOther(t *testing.T) {
	ctx := context.Background()
	s := memlease.New()
	if err := s.Hold("b1", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Takeover(ctx, "b1", "b2"); !errors.Is(err, failover.ErrLeaseHeld) {
		t.Fatalf("Takeover while held: %v, want ErrLeaseHeld", err)
	}
	s.Expire("b1")
	if err := s.Takeover(ctx, "b1", "b2"); err != nil {
		t.Fatalf("Takeover after expiry: %v", err)
	}
	if err := s.Takeover(ctx, "b1", "b2"); err != nil {
		t.Fatalf("Takeover again by the same watcher: %v", err)
	}
	if err := s.Takeover(ctx, "b1", "b3"); err == nil {
		t.Fatal("a second watcher's takeover was recorded too")
	}
	if err := s.Hold("b1", time.Second); !errors.Is(err, memlease.ErrTakenOver) {
		t.Fatalf("Hold while taken over: %v, want ErrTakenOver", err)
	}
	if err := s.Release(ctx, "b1", "b3"); err != nil || s.TakenBy("b1") != "b2" {
		t.Fatalf("Release by another watcher: %v; taken by %q", err, s.TakenBy("b1"))
	}
	if err := s.Release(ctx, "b1", "b2"); err != nil || s.TakenBy("b1") != "" {
		t.Fatalf("Release: %v; taken by %q", err, s.TakenBy("b1"))
	}
	if err := s.Hold("b1", time.Second); err != nil {
		t.Fatalf("Hold after release: %v", err)
	}
}

func TestWatchReportsOthersThenChanges(t *testing.T) {
	s := memlease.New()
	if err := s.Hold("b1", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Hold("b2", time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Watch(ctx, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if l := <-ch; l.Server != "b1" || !l.Held || l.TTL != time.Second {
		t.Fatalf("first report %+v, want b1 held 1s", l)
	}
	s.Expire("b2") // the watcher's own: not reported
	s.Declare("b1", false)
	if l := <-ch; l.Server != "b1" || !l.Disarmed {
		t.Fatalf("report %+v, want b1 disarmed", l)
	}
	cancel()
	for range ch { // closed once ctx ends
	}
}
