package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/internal/logsink"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/telemetry"
)

func setWatchFlags(t *testing.T, interval time.Duration, out, names string) {
	t.Helper()
	old := [...]any{*watch, *outFile, *server, *jsonOut, *timeout}
	*watch, *outFile, *server, *jsonOut, *timeout = interval, out, names, true, time.Second
	t.Cleanup(func() {
		*watch, *outFile, *server, *jsonOut, *timeout = old[0].(time.Duration), old[1].(string), old[2].(string), old[3].(bool), old[4].(time.Duration)
	})
}

// TestWatchRecordsEveryPoll: each poll of each target is one telemetry
// line with time and server, an unreachable BMC's polls included (with
// their failures); cancelling ends the watch with exit 0.
func TestWatchRecordsEveryPoll(t *testing.T) {
	setWatchFlags(t, 20*time.Millisecond, "", "a,b")
	good := &fakeRoles{health: bmc.Health{Power: bmc.PowerOn},
		readings: []sensor.Reading{{Name: "CPU Temp", Kind: sensor.KindTemperature, Value: 50, Unit: "C",
			Thresholds: sensor.Thresholds{UpperCritical: sensor.At(90)}}}}
	gone := &fakeRoles{err: map[string]error{"readings": fmt.Errorf("%w: timeout", bmc.ErrUnreachable)}}
	var out logsink.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	before := time.Now()
	go func() { done <- watchTargets(ctx, []target{fakeTarget(good), fakeTarget(gone)}, &out, io.Discard) }()
	for deadline := time.Now().Add(10 * time.Second); strings.Count(out.String(), "\n") < 6; {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 6 lines in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d after cancel, want 0", code)
	}
	dec := telemetry.NewDecoder(strings.NewReader(out.String()), "stdout")
	var n [2]int
	var last time.Time
	for i := 0; ; i++ {
		r, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.Time.Before(before) || r.Time.Before(last) {
			t.Fatalf("line %d: time %v before the start %v or the previous line", i+1, r.Time, before)
		}
		last = r.Time
		switch r.Server {
		case "a":
			n[0]++
			if !r.OK || len(r.Readings) != 1 || r.Format != telemetry.Format {
				t.Fatalf("a: %+v", r)
			}
		case "b":
			n[1]++
			if r.OK || !r.Unreachable || !strings.Contains(r.Error, "timeout") || len(r.Failures) == 0 {
				t.Fatalf("b (unreachable) recorded as %+v", r)
			}
			st, _ := r.Status()
			if st.Reachable {
				t.Fatal("b's status reachable")
			}
		default:
			t.Fatalf("server %q", r.Server)
		}
	}
	if n[0] < 3 || n[1] < 3 || n[0]-n[1] > 1 || n[1]-n[0] > 1 {
		t.Fatalf("polls a %d, b %d: want each target every poll", n[0], n[1])
	}
}

// TestWatchOutAppends: -out appends to the file across runs.
func TestWatchOutAppends(t *testing.T) {
	f := filepath.Join(t.TempDir(), "rec.jsonl")
	setWatchFlags(t, time.Hour, f, "")
	for run := 1; run <= 2; run++ {
		ctx, cancel := context.WithCancel(context.Background())
		tg := fakeTarget(&fakeRoles{health: bmc.Health{Power: bmc.PowerOn}})
		tg.name = "ipmi 10.1.2.3:623"
		done := make(chan int)
		go func() { done <- watchTargets(ctx, []target{tg}, io.Discard, io.Discard) }()
		for deadline := time.Now().Add(10 * time.Second); ; {
			if data, _ := os.ReadFile(f); bytes.Count(data, []byte("\n")) >= run {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: the file holds fewer than %d lines after 10 s (replaced, not appended?)", run, run)
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
	}
	data, _ := os.ReadFile(f)
	if c := bytes.Count(data, []byte("\n")); c != 2 || !bytes.Contains(data, []byte(`"server":"10.1.2.3:623"`)) {
		t.Fatalf("%d lines, want 2 with the server named by address:\n%s", c, data)
	}
}

func TestWatchFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		watch    time.Duration
		json     bool
		out, srv string
		want     string
	}{
		{-time.Second, true, "", "", "positive"},
		{time.Second, false, "", "", "add -json"},
		{0, true, "x", "", "for -watch"},
	} {
		setWatchFlags(t, tc.watch, tc.out, tc.srv)
		*jsonOut = tc.json
		if err := checkWatchFlags(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
	setWatchFlags(t, time.Second, "", "a")
	if _, err := serverNames([]target{{name: "x"}, {name: "y"}}); err == nil || !strings.Contains(err.Error(), "1 names for 2 targets") {
		t.Errorf("-server count mismatch: %v", err)
	}
	setWatchFlags(t, time.Second, "", "")
	if got, err := serverNames([]target{{name: "ipmi 10.0.0.5:623"}, {name: "redfish https://h:8443 system 1"}}); err != nil ||
		got[0] != "10.0.0.5:623" || got[1] != "https://h:8443/redfish/v1/Systems/1" {
		t.Errorf("default names %q, %v", got, err)
	}
	setWatchFlags(t, time.Second, "", "a,a")
	if _, err := serverNames([]target{{name: "x"}, {name: "y"}}); err == nil || !strings.Contains(err.Error(), `"a" twice`) {
		t.Errorf("-server a,a: %v", err)
	}
}
