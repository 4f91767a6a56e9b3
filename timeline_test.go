package failover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func TestTimelineWritesTextAndJSON(t *testing.T) {
	clock := &fixedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var text, js bytes.Buffer
	tt, tj := failover.NewTimeline(&text, false, clock), failover.NewTimeline(&js, true, clock)
	clock.t = clock.t.Add(2 * time.Second)
	ev := failover.Event{Time: clock.t.Add(3 * time.Second), Type: failover.EventDetected, Server: "b1", Peer: "b2", Cause: failover.CauseNoPower}
	for _, tl := range []*failover.Timeline{tt, tj} {
		tl.Mark("b1", "power-loss", []string{"vm1"})
		tl.Record(ev)
		if err := tl.Err(); err != nil {
			t.Fatal(err)
		}
	}
	wantText := "\n    t=2s  FAULT power-loss on b1 (owns 1 VMs)\n      t=5s  (+3s     )  detected       b1 (peer b2) cause=no-power\n"
	if text.String() != wantText {
		t.Errorf("text:\n%q\nwant\n%q", text.String(), wantText)
	}
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	var mark failover.FaultMark
	var back failover.Event
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &mark) != nil || json.Unmarshal([]byte(lines[1]), &back) != nil {
		t.Fatalf("JSON lines: %q", js.String())
	}
	if mark.Type != "fault" || mark.Fault != "power-loss" || back.Type != failover.EventDetected || back.Server != "b1" {
		t.Errorf("decoded %+v and %+v", mark, back)
	}
}

func TestTimelineWaitForWakesEveryWaiter(t *testing.T) {
	tl := failover.NewTimeline(&bytes.Buffer{}, true, nil)
	tl.Mark("b1", "overheat", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- tl.WaitFor(ctx, "b1", failover.EventRestarted) }()
	}
	time.Sleep(20 * time.Millisecond)
	tl.Record(failover.Event{Time: time.Now(), Type: failover.EventRestarted, Server: "b1"})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if err := tl.WaitFor(short, "b2", failover.EventRestarted); err == nil {
		t.Error("WaitFor returned for an event that never came")
	}
}
