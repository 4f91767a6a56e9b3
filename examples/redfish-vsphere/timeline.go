package main

// Copied from examples/ipmi-libvirt: each example is one self-contained
// program.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rackha/failover"
)

// timeline prints events as they come and lets run wait for one.
type timeline struct {
	w       io.Writer
	json    bool
	start   time.Time
	mu      sync.Mutex
	faultAt time.Time
	seen    []failover.Event
	changed chan struct{}
	werr    error
}

func newTimeline(w io.Writer, jsonOut bool) *timeline {
	return &timeline{w: w, json: jsonOut, start: time.Now(), changed: make(chan struct{}, 1)}
}

func (t *timeline) fault(server, kind string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faultAt = time.Now()
	if t.json {
		t.werr = errors.Join(t.werr, encodeLine(t.w, faultLine{Time: t.faultAt, Type: "fault", Server: server, Fault: kind}))
		return
	}
	_, err := fmt.Fprintf(t.w, "\n%7s  FAULT %s on %s\n", t.rel(t.faultAt), kind, server)
	t.werr = errors.Join(t.werr, err)
}

// event is the monitors' OnEvent.
func (t *timeline) event(ev failover.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen = append(t.seen, ev)
	select {
	case t.changed <- struct{}{}:
	default:
	}
	if t.json {
		t.werr = errors.Join(t.werr, encodeLine(t.w, ev))
		return
	}
	since := "-"
	if !t.faultAt.IsZero() {
		since = ev.Time.Sub(t.faultAt).Round(time.Millisecond).String()
	}
	_, err := fmt.Fprintf(t.w, "  %7s  (+%-7s)  %v\n", t.rel(ev.Time), since, ev)
	t.werr = errors.Join(t.werr, err)
}

func (t *timeline) rel(at time.Time) string {
	return "t=" + at.Sub(t.start).Round(10*time.Millisecond).String()
}

// waitFor waits for an event of type typ about server since the last fault.
func (t *timeline) waitFor(ctx context.Context, server string, typ failover.EventType, bgErr <-chan error) error {
	deadline := time.NewTimer(settleWait)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		for _, ev := range t.seen {
			if ev.Server == server && ev.Type == typ && !ev.Time.Before(t.faultAt) {
				t.mu.Unlock()
				return nil
			}
		}
		t.mu.Unlock()
		select {
		case <-t.changed:
		case err := <-bgErr:
			return err
		case <-deadline.C:
			return fmt.Errorf("no %s event for %s within %v", typ, server, settleWait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (t *timeline) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.werr
}
