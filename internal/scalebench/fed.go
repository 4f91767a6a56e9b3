package scalebench

import (
	"context"
	"sync/atomic"

	"github.com/rackha/failover/rack"
)

// countingManager is a monitor's rack.Manager that counts the statuses
// its watch streams delivered, so the benchmark knows every monitor is
// fed before it measures, and how many statuses a second reach the
// monitors. It relays each stream through a buffer of 16 (the client's
// own buffer drops older statuses first; this one only adds a hop).
type countingManager struct {
	rack.Manager
	got   atomic.Int64
	total *atomic.Int64 // every monitor's, shared
}

func (m *countingManager) Watch(ctx context.Context, watcher string) (<-chan rack.Status, error) {
	in, err := m.Manager.Watch(ctx, watcher)
	if err != nil {
		return nil, err
	}
	out := make(chan rack.Status, 16)
	go func() {
		defer close(out)
		for st := range in {
			m.got.Add(1)
			m.total.Add(1)
			select {
			case out <- st:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
