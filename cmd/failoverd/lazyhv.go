package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// peerHypervisor is what a monitor uses of a peer's hypervisor.
type peerHypervisor interface {
	hypervisor.Hypervisor
	hypervisor.Checkpointer
	Close() error
}

// lazyHypervisor opens a peer's hypervisor whose constructor must log in
// (vspherehv.New) on first use, and again after a failure, so a vCenter
// down when the monitor starts does not leave that peer without
// evacuation for the monitor's whole life. Until it opens, every call
// fails with hypervisor.ErrUnreachable (a checkpoint that fails is
// followed by a fence and a cold start). Safe for concurrent use.
type lazyHypervisor struct {
	name  string
	open  func(context.Context) (peerHypervisor, error)
	retry time.Duration

	mu      sync.Mutex
	h       peerHypervisor
	tried   time.Time
	lastErr error
	closed  bool
}

func (l *lazyHypervisor) get(ctx context.Context) (peerHypervisor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, fmt.Errorf("hypervisor of %s closed: %w", l.name, hypervisor.ErrUnreachable)
	case l.h != nil:
		return l.h, nil
	case !l.tried.IsZero() && time.Since(l.tried) < l.retry:
		return nil, fmt.Errorf("hypervisor of %s not opened yet (%v): %w", l.name, l.lastErr, hypervisor.ErrUnreachable)
	}
	l.tried = time.Now()
	h, err := l.open(ctx)
	if err != nil {
		l.lastErr = err
		return nil, fmt.Errorf("open the hypervisor of %s: %w: %w", l.name, hypervisor.ErrUnreachable, err)
	}
	l.h = h
	return h, nil
}

func (l *lazyHypervisor) Start(ctx context.Context, img imagestore.Image) error {
	h, err := l.get(ctx)
	if err != nil {
		return err
	}
	return h.Start(ctx, img)
}

func (l *lazyHypervisor) Stop(ctx context.Context, name string) error {
	h, err := l.get(ctx)
	if err != nil {
		return err
	}
	return h.Stop(ctx, name)
}

func (l *lazyHypervisor) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	h, err := l.get(ctx)
	if err != nil {
		return hypervisor.StateUnknown, err
	}
	return h.State(ctx, name)
}

func (l *lazyHypervisor) List(ctx context.Context) ([]hypervisor.VM, error) {
	h, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return h.List(ctx)
}

func (l *lazyHypervisor) Checkpoint(ctx context.Context, name string) (string, error) {
	h, err := l.get(ctx)
	if err != nil {
		return "", err
	}
	return h.Checkpoint(ctx, name)
}

func (l *lazyHypervisor) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.h == nil {
		return nil
	}
	return l.h.Close()
}
