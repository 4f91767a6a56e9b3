package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

// redfishBMC is what the rack manager uses of a Redfish adapter.
type redfishBMC interface {
	sensor.Source
	bmc.HealthReader
	bmc.Power
	bmc.EventSource
	Close() error
}

// lazyBMC opens a BMC adapter whose constructor must reach the BMC
// (redfishbmc.Open logs in) on first use, and again after a failure, so
// that one BMC down when the rack manager starts does not keep it from
// polling the others: until it opens, every call fails with
// bmc.ErrUnreachable (nothing was sent, so never indeterminate). Safe for
// concurrent use.
type lazyBMC struct {
	name  string
	open  func(context.Context) (redfishBMC, error)
	retry time.Duration // at most one open attempt per retry

	mu      sync.Mutex
	b       redfishBMC
	tried   time.Time
	lastErr error
	closed  bool
}

func newLazyBMC(name string, retry time.Duration, open func(context.Context) (redfishBMC, error)) *lazyBMC {
	return &lazyBMC{name: name, open: open, retry: retry}
}

// get returns the open adapter, opening it if it is time to try.
func (l *lazyBMC) get(ctx context.Context) (redfishBMC, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, fmt.Errorf("server %s: BMC closed: %w", l.name, bmc.ErrUnreachable)
	case l.b != nil:
		return l.b, nil
	case !l.tried.IsZero() && time.Since(l.tried) < l.retry:
		return nil, fmt.Errorf("server %s: BMC not opened yet (%v): %w", l.name, l.lastErr, bmc.ErrUnreachable)
	}
	l.tried = time.Now()
	b, err := l.open(ctx)
	if err != nil {
		l.lastErr = err
		return nil, fmt.Errorf("server %s: open BMC: %w: %w", l.name, bmc.ErrUnreachable, err)
	}
	l.b = b
	return b, nil
}

func (l *lazyBMC) Readings(ctx context.Context) ([]sensor.Reading, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return b.Readings(ctx)
}

func (l *lazyBMC) Health(ctx context.Context) (bmc.Health, error) {
	b, err := l.get(ctx)
	if err != nil {
		return bmc.Health{}, err
	}
	return b.Health(ctx)
}

func (l *lazyBMC) PowerState(ctx context.Context) (bmc.PowerState, error) {
	b, err := l.get(ctx)
	if err != nil {
		return bmc.PowerUnknown, err
	}
	return b.PowerState(ctx)
}

func (l *lazyBMC) SetPower(ctx context.Context, action bmc.PowerAction) error {
	b, err := l.get(ctx)
	if err != nil {
		return err
	}
	return b.SetPower(ctx, action)
}

// Events forwards the adapter's events once it is open; until then it
// keeps trying, every retry.
func (l *lazyBMC) Events(ctx context.Context) (<-chan bmc.Event, error) {
	out := make(chan bmc.Event, 16)
	go func() {
		defer close(out)
		for {
			b, err := l.get(ctx)
			if err == nil {
				in, err := b.Events(ctx)
				if err == nil {
					for ev := range in {
						select {
						case out <- ev:
						default: // a slow reader loses older events; polling still reads
						}
					}
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(l.retry):
			}
		}
	}()
	return out, nil
}

func (l *lazyBMC) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.b == nil {
		return nil
	}
	return l.b.Close()
}
