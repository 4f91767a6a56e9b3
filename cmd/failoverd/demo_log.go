package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rackha/failover"
)

// demoEvent is one event a monitor process decided, with its pid.
type demoEvent struct {
	PID int
	Ev  failover.Event
}

// demoLog merges the monitors' event lines and the demo's own lines
// into one output, in arrival order: the readable timeline or JSON lines,
// each with the pid of the process that decided it.
type demoLog struct {
	out  io.Writer
	json bool
	pid  int // the demo's own

	mu       sync.Mutex
	start    time.Time
	faultAt  time.Time
	events   []demoEvent
	started  map[string]int // server -> pid of its newest monitor that said it runs
	bad      []string       // lines that did not decode
	changed  chan struct{}
	writeErr error
	faults   []faultMark
}

// faultMark is one injected fault, for the figures at the end.
type faultMark struct {
	at     time.Time
	server string
	fault  string
	vms    []string
}

func newDemoLog(out io.Writer, jsonLines bool) *demoLog {
	return &demoLog{out: out, json: jsonLines, pid: os.Getpid(), start: time.Now(), started: map[string]int{}, changed: make(chan struct{})}
}

// line takes one stdout line of a child.
func (l *demoLog) line(s string) {
	var head struct {
		PID    int    `json:"pid"`
		Type   string `json:"type"`
		Server string `json:"server"`
	}
	if err := json.Unmarshal([]byte(s), &head); err != nil || head.PID == 0 {
		l.mu.Lock()
		l.bad = append(l.bad, s)
		l.mu.Unlock()
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.wake()
	if head.Type == lineMonitorStarted {
		l.started[head.Server] = head.PID
		return
	}
	var ev failover.Event
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		l.bad = append(l.bad, s)
		return
	}
	l.events = append(l.events, demoEvent{PID: head.PID, Ev: ev})
	if l.json {
		l.write(fmt.Fprintln(l.out, s))
		return
	}
	since := "-"
	if !l.faultAt.IsZero() {
		since = "+" + ev.Time.Sub(l.faultAt).Round(time.Millisecond).String()
	}
	l.write(fmt.Fprintf(l.out, "  %8s  (%-8s)  pid %-7d %v\n", l.rel(ev.Time), since, head.PID, ev))
}

func (l *demoLog) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *demoLog) write(_ int, err error) {
	if err != nil && l.writeErr == nil {
		l.writeErr = err
	}
}

func (l *demoLog) rel(at time.Time) string {
	return "t=" + at.Sub(l.start).Round(10*time.Millisecond).String()
}

// mark writes a fault line, as the quickstart's timeline does.
func (l *demoLog) mark(server, fault string, vms []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faultAt = time.Now()
	l.faults = append(l.faults, faultMark{at: l.faultAt, server: server, fault: fault, vms: vms})
	if l.json {
		b, _ := json.Marshal(struct {
			PID int `json:"pid"`
			failover.FaultMark
		}{l.pid, failover.FaultMark{Time: l.faultAt, Type: "fault", Server: server, Fault: fault, VMs: vms}})
		l.write(fmt.Fprintln(l.out, string(b)))
		return
	}
	l.write(fmt.Fprintf(l.out, "\n%8s  FAULT %s on %s (owns %d VMs)\n", l.rel(l.faultAt), fault, server, len(vms)))
}

// note writes one of the demo's own lines (a kill, a restart, the result).
func (l *demoLog) note(typ, msg string, extra map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.json {
		m := map[string]any{"pid": l.pid, "time": now, "type": typ, "message": msg}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		l.write(fmt.Fprintln(l.out, string(b)))
		return
	}
	l.write(fmt.Fprintf(l.out, "  %8s  %-10s %s\n", l.rel(now), "DEMO", msg))
}

// header writes free text (only in the readable timeline).
func (l *demoLog) header(format string, a ...any) {
	if l.json {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write(fmt.Fprintf(l.out, format, a...))
}

// wait waits until cond holds over the events so far, or ctx ends.
func (l *demoLog) wait(ctx context.Context, what string, cond func(evs []demoEvent, started map[string]int) bool) error {
	for {
		l.mu.Lock()
		ok := cond(l.events, l.started)
		ch := l.changed
		l.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("demo: %s: %w", what, ctx.Err())
		}
	}
}

// snapshot returns the events so far and the undecodable lines.
func (l *demoLog) snapshot() ([]demoEvent, []string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]demoEvent(nil), l.events...), append([]string(nil), l.bad...), l.writeErr
}

// faultToBackups is, per fault in order, the time from the fault to the
// last of the failed server's VMs started elsewhere (0: not all started).
func (l *demoLog) faultToBackups() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for i, f := range l.faults {
		end := time.Time{}
		if i+1 < len(l.faults) {
			end = l.faults[i+1].at
		}
		last := map[string]time.Time{}
		for _, e := range l.events {
			if e.Ev.Type != failover.EventBackupStarted || e.Ev.Server != f.server || e.Ev.Time.Before(f.at) || (!end.IsZero() && !e.Ev.Time.Before(end)) {
				continue
			}
			last[e.Ev.VM] = e.Ev.Time
		}
		var d time.Duration
		for _, vm := range f.vms {
			t, ok := last[vm]
			if !ok {
				d = 0
				break
			}
			d = max(d, t.Sub(f.at))
		}
		out = append(out, d)
	}
	return out
}
