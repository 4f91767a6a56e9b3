package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

type fakeRedfish struct{ closed atomic.Bool }

func (*fakeRedfish) Readings(context.Context) ([]sensor.Reading, error) { return nil, nil }
func (*fakeRedfish) Health(context.Context) (bmc.Health, error) {
	return bmc.Health{Power: bmc.PowerOn}, nil
}
func (*fakeRedfish) PowerState(context.Context) (bmc.PowerState, error) { return bmc.PowerOn, nil }
func (*fakeRedfish) SetPower(context.Context, bmc.PowerAction) error    { return nil }
func (*fakeRedfish) Events(ctx context.Context) (<-chan bmc.Event, error) {
	ch := make(chan bmc.Event, 1)
	ch <- bmc.Event{Message: "hello"}
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}
func (f *fakeRedfish) Close() error { f.closed.Store(true); return nil }

// A BMC that cannot be opened is unreachable (never indeterminate), is
// tried again at most once per retry, and works once it opens.
func TestLazyBMCOpensLater(t *testing.T) {
	var opens atomic.Int32
	var up atomic.Bool
	fake := &fakeRedfish{}
	l := newLazyBMC("s2", 50*time.Millisecond, func(context.Context) (redfishBMC, error) {
		opens.Add(1)
		if !up.Load() {
			return nil, errors.New("connection refused")
		}
		return fake, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := l.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetPower(ctx, bmc.PowerActionOff); !errors.Is(err, bmc.ErrUnreachable) || errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("power before open: %v", err)
	}
	before := opens.Load()
	for range 5 {
		if _, err := l.Health(ctx); !errors.Is(err, bmc.ErrUnreachable) {
			t.Fatalf("health before open: %v", err)
		}
	}
	if n := opens.Load() - before; n > 1 {
		t.Errorf("%d opens within one retry interval", n)
	}
	up.Store(true)
	time.Sleep(60 * time.Millisecond)
	h, err := l.Health(ctx)
	if err != nil || h.Power != bmc.PowerOn {
		t.Fatalf("after the BMC came up: %v %v", h, err)
	}
	select {
	case ev := <-events:
		if ev.Message != "hello" {
			t.Errorf("event %+v", ev)
		}
	case <-time.After(2 * time.Second):
		t.Error("events never forwarded once open")
	}
	l.Close()
	if !fake.closed.Load() {
		t.Error("Close did not close the adapter")
	}
	if _, err := l.Health(ctx); !errors.Is(err, bmc.ErrUnreachable) {
		t.Errorf("after Close: %v", err)
	}
}
