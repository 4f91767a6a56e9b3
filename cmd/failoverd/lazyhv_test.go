package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

type fakePeer struct{}

func (fakePeer) Start(context.Context, imagestore.Image) error { return nil }
func (fakePeer) Stop(context.Context, string) error            { return nil }
func (fakePeer) State(context.Context, string) (hypervisor.VMState, error) {
	return hypervisor.StateRunning, nil
}
func (fakePeer) List(context.Context) ([]hypervisor.VM, error)      { return nil, nil }
func (fakePeer) Checkpoint(context.Context, string) (string, error) { return "ckpt-1", nil }
func (fakePeer) Close() error                                       { return nil }

// A peer's hypervisor that cannot log in is unreachable, tried again at
// most once per retry, and works once it opens; it is a Checkpointer all
// along, so the engine plans an evacuation (and falls back to a fence
// while it cannot reach it).
func TestLazyHypervisorOpensLater(t *testing.T) {
	var opens atomic.Int32
	var up atomic.Bool
	l := &lazyHypervisor{name: "s4", retry: 50 * time.Millisecond, open: func(context.Context) (peerHypervisor, error) {
		opens.Add(1)
		if !up.Load() {
			return nil, errors.New("vCenter: connection refused")
		}
		return fakePeer{}, nil
	}}
	var h hypervisor.Hypervisor = l
	if _, ok := h.(hypervisor.Checkpointer); !ok {
		t.Fatal("not a Checkpointer")
	}
	ctx := context.Background()
	for range 3 {
		if _, err := l.Checkpoint(ctx, "vm1"); !errors.Is(err, hypervisor.ErrUnreachable) {
			t.Fatalf("before open: %v", err)
		}
	}
	if n := opens.Load(); n != 1 {
		t.Errorf("%d opens within one retry interval, want 1", n)
	}
	up.Store(true)
	time.Sleep(60 * time.Millisecond)
	if ref, err := l.Checkpoint(ctx, "vm1"); err != nil || ref != "ckpt-1" {
		t.Fatalf("after open: %q %v", ref, err)
	}
	if st, err := l.State(ctx, "vm1"); err != nil || st != hypervisor.StateRunning {
		t.Fatalf("state: %v %v", st, err)
	}
	l.Close()
	if _, err := l.State(ctx, "vm1"); !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Errorf("after Close: %v", err)
	}
}
