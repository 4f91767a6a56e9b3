package rackhttp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover"
)

// A monitor's events reach OnEvent intact; a monitor reporting another
// watcher's event, an operator and a malformed body are refused.
func TestReportEvents(t *testing.T) {
	var mu sync.Mutex
	var got []failover.Event
	r := newTestRack(t, rackOpts{handler: func(c *HandlerConfig) {
		c.OnEvent = func(ev failover.Event) { mu.Lock(); got = append(got, ev); mu.Unlock() }
	}})
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	ev := failover.Event{Time: at, Type: failover.EventBackupStarted, Server: "s1", Peer: "s2", VM: "vm-a",
		Cause: failover.CauseNoPower, Since: 3 * time.Second, Message: "resumed"}
	if err := r.client("s2").Report(ctx, ev); err != nil {
		t.Fatalf("s2 reporting its own event: %v", err)
	}
	own := failover.Event{Time: at, Type: failover.EventReconciled, Server: "s1", VM: "vm-b"}
	if err := r.client("s1").Report(ctx, own); err != nil {
		t.Fatalf("s1 reporting a reconcile of its own: %v", err)
	}
	err := r.client("s1").Report(ctx, ev)
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), `watcher "s2"`) {
		t.Errorf("s1 reporting s2's event = %v, want ErrForbidden naming s2", err)
	}
	if err := r.client("operator").Report(ctx, ev); !errors.Is(err, ErrForbidden) {
		t.Errorf("an operator reporting = %v, want ErrForbidden", err)
	}
	if err := r.client("s2").Report(ctx, failover.Event{Server: "s1", Peer: "s2"}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("an event without time and type = %v, want ErrBadRequest", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("OnEvent got %d events, want 2: %+v", len(got), got)
	}
	if g := got[0]; !g.Time.Equal(at) || g.Type != ev.Type || g.Server != "s1" || g.Peer != "s2" || g.VM != "vm-a" || g.Since != ev.Since || g.Cause != ev.Cause {
		t.Errorf("OnEvent got %+v, want %+v", g, ev)
	}
}
