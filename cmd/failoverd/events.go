package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rackha/failover"
)

// eventWriter writes each monitor event as one JSON line with the pid of
// the process that decided it (for the demo to merge), when enabled.
type eventWriter struct {
	on  bool
	pid int

	mu sync.Mutex
	w  io.Writer
}

func newEventWriter(w io.Writer, on bool) *eventWriter {
	return &eventWriter{on: on, pid: os.Getpid(), w: w}
}

// Write is a failover.Config.OnEvent.
func (e *eventWriter) Write(ev failover.Event) {
	if !e.on {
		return
	}
	line, err := eventLine(ev, e.pid)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Write(line) //nolint:errcheck // stdout gone: the demo is gone too
}

// Started writes a "monitor-started" line for server, so the demo knows
// the monitor runs.
func (e *eventWriter) Started(server string) {
	if !e.on {
		return
	}
	line, err := json.Marshal(struct {
		PID    int       `json:"pid"`
		Time   time.Time `json:"time"`
		Type   string    `json:"type"`
		Server string    `json:"server"`
	}{e.pid, time.Now(), lineMonitorStarted, server})
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Write(append(line, '\n')) //nolint:errcheck // stdout gone: the demo is gone too
}

// lineMonitorStarted is the type of the line Started writes.
const lineMonitorStarted = "monitor-started"

// eventLine is ev's JSON object with "pid" added, and a newline.
func eventLine(ev failover.Event, pid int) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(`{"pid":`)
	buf.WriteString(strconv.Itoa(pid))
	if len(b) > 2 {
		buf.WriteByte(',')
	}
	buf.Write(b[1:])
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
