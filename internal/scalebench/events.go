package scalebench

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/rackha/failover"
	"github.com/rackha/failover/imagestore"
)

// listedStore is a monitor's image store that notes its first List that
// succeeded: the monitor's boot reconcile has read what it owns.
type listedStore struct {
	imagestore.Store
	listed atomic.Bool
}

func (s *listedStore) List(ctx context.Context) ([]imagestore.Image, error) {
	imgs, err := s.Store.List(ctx)
	if err == nil {
		s.listed.Store(true)
	}
	return imgs, err
}

// eventCount counts every monitor's events by type and keeps a few
// distinct alert messages (without server names they would all differ;
// the first ones are enough to say what went wrong).
type eventCount struct {
	mu     sync.Mutex
	byType map[failover.EventType]int
	alerts []string
}

func newEventCount() *eventCount { return &eventCount{byType: map[failover.EventType]int{}} }

func (c *eventCount) add(ev failover.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byType[ev.Type]++
	if ev.Type == failover.EventAlert && len(c.alerts) < 5 {
		c.alerts = append(c.alerts, ev.Server+"/"+ev.Peer+": "+ev.Message)
	}
}

// snapshot copies the counts.
func (c *eventCount) snapshot() map[failover.EventType]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[failover.EventType]int, len(c.byType))
	for k, v := range c.byType {
		out[k] = v
	}
	return out
}

// firstAlerts are the first alert messages of the run.
func (c *eventCount) firstAlerts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.alerts...)
}

// eventsSince is b minus a, by type, sorted by type for printing.
func eventsSince(a, b map[failover.EventType]int) map[failover.EventType]int {
	out := map[failover.EventType]int{}
	for k, v := range b {
		if d := v - a[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func eventTypes(m map[failover.EventType]int) []failover.EventType {
	var out []failover.EventType
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
