package failover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rackha/failover/clock"
	"io"
	"sync"
	"time"
)

// Timeline records events and writes them as they come: as a readable
// timeline with times relative to its start and to the last marked fault,
// or as JSON lines (Event.MarshalJSON, and a "fault" object for each
// Mark). Its Record method is meant as Config.OnEvent. Safe for concurrent
// use.
type Timeline struct {
	w     io.Writer
	json  bool
	clock Clock
	start time.Time

	mu      sync.Mutex
	changed chan struct{} // closed at each Record
	faultAt time.Time
	events  []Event
	err     error
}

// FaultMark is the JSON line Mark writes.
type FaultMark struct {
	Time   time.Time `json:"time"`
	Type   string    `json:"type"` // always "fault"
	Server string    `json:"server"`
	Fault  string    `json:"fault"`
	VMs    []string  `json:"vms,omitempty"` // VMs the server owned
}

// NewTimeline writes to w, as JSON lines if jsonLines. clock gives the
// start and the fault times (nil: the real clock).
func NewTimeline(w io.Writer, jsonLines bool, c Clock) *Timeline {
	if c == nil {
		c = clock.Real{}
	}
	return &Timeline{w: w, json: jsonLines, clock: c, start: c.Now(), changed: make(chan struct{})}
}

// Mark notes that fault was injected on server, which owned vms.
func (t *Timeline) Mark(server, fault string, vms []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faultAt = t.clock.Now()
	if t.json {
		t.write(json.NewEncoder(t.w).Encode(FaultMark{Time: t.faultAt, Type: "fault", Server: server, Fault: fault, VMs: vms}))
		return
	}
	_, err := fmt.Fprintf(t.w, "\n%8s  FAULT %s on %s", t.rel(t.faultAt), fault, server)
	if err == nil && len(vms) > 0 {
		_, err = fmt.Fprintf(t.w, " (owns %d VMs)", len(vms))
	}
	if err == nil {
		_, err = fmt.Fprintln(t.w)
	}
	t.write(err)
}

// Record writes ev and keeps it.
func (t *Timeline) Record(ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, ev)
	close(t.changed) // wake every WaitFor
	t.changed = make(chan struct{})
	if t.json {
		t.write(json.NewEncoder(t.w).Encode(ev))
		return
	}
	since := "-"
	if !t.faultAt.IsZero() {
		since = "+" + ev.Time.Sub(t.faultAt).Round(time.Millisecond).String()
	}
	_, err := fmt.Fprintf(t.w, "  %8s  (%-8s)  %v\n", t.rel(ev.Time), since, ev)
	t.write(err)
}

func (t *Timeline) write(err error) { t.err = errors.Join(t.err, err) }

func (t *Timeline) rel(at time.Time) string {
	return "t=" + at.Sub(t.start).Round(10*time.Millisecond).String()
}

// Events returns the events recorded so far.
func (t *Timeline) Events() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Event(nil), t.events...)
}

// WaitFor waits until an event of type typ about server has been recorded
// since the last Mark, or ctx ends.
func (t *Timeline) WaitFor(ctx context.Context, server string, typ EventType) error {
	for {
		t.mu.Lock()
		for _, ev := range t.events {
			if ev.Server == server && ev.Type == typ && !ev.Time.Before(t.faultAt) {
				t.mu.Unlock()
				return nil
			}
		}
		changed := t.changed
		t.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("failover: no %s event for %s: %w", typ, server, ctx.Err())
		}
	}
}

// Err returns the first errors writing to w.
func (t *Timeline) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
