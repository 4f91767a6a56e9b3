package telemetry

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)

func fullStatus() rack.Status {
	return rack.Status{Server: "a", Time: t0, Reachable: true,
		Readings: []sensor.Reading{
			{Name: "CPU Temp", Kind: sensor.KindTemperature, Value: 91.5, Unit: "C", Time: t0,
				Thresholds: sensor.Thresholds{UpperCaution: sensor.At(80), UpperCritical: sensor.At(90), UpperFatal: sensor.At(100)}},
			{Name: "P12V", Kind: sensor.KindVoltage, Status: sensor.StatusUnavailable, Unit: "V", Time: t0,
				Thresholds: sensor.Thresholds{LowerCritical: sensor.At(10.8), UpperCritical: sensor.At(13.2)}},
		},
		Health: bmc.Health{Power: bmc.PowerOn, Fault: true, Detail: "CPU IERR",
			Events: []bmc.Event{{Time: t0, Source: "CPU", Message: "IERR", Severity: bmc.SeverityCritical}}},
		Watchdog:      watchdog.State{Running: true, Timeout: 30 * time.Second, Remaining: 12500 * time.Millisecond, Action: watchdog.ActionPowerCycle},
		WatchdogKnown: true, RackFailed: 1, RackSize: 4}
}

// TestStatusRoundTrip: a status journaled and read back is the status
// the engine saw, and its record names the failures.
func TestStatusRoundTrip(t *testing.T) {
	for _, st := range []rack.Status{
		fullStatus(),
		{Server: "b", Time: t0, Reachable: false, Err: "bmc unreachable: timeout", HealthErr: "timeout", ReadingsErr: "timeout", WatchdogErr: "timeout"},
		{Server: "c", Time: t0, Reachable: true, Fast: true, Health: bmc.Health{Power: bmc.PowerOff}},
	} {
		line, err := Encode(FromStatus(st))
		if err != nil {
			t.Fatal(err)
		}
		r, err := DecodeLine(line[:len(line)-1])
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		got, err := r.Status()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st) {
			t.Errorf("round trip of %s\n got %+v\nwant %+v", line, got, st)
		}
		if r.OK {
			t.Errorf("%s: ok, but every status here has a failure", line)
		}
	}
	r := FromStatus(fullStatus())
	if want := []string{"health failed: blade fault (CPU IERR)"}; !reflect.DeepEqual(r.Failures, want) {
		t.Errorf("failures %q, want %q", r.Failures, want)
	}
}

// TestDecodeErrors: each malformed line is refused naming file:line and
// what is wrong; blank lines are skipped.
func TestDecodeErrors(t *testing.T) {
	good := `{"format":"rackha-telemetry/1","time":"2026-03-01T10:00:00.5Z","server":"a","target":"ipmi a","ok":true,"readings":[]}`
	for _, tc := range []struct{ line, want string }{
		{`not json`, "invalid character"},
		{`{"time":"2026-03-01T10:00:00Z","server":"a","readings":[]}`, `format ""`},
		{`{"format":"rackha-telemetry/9","time":"2026-03-01T10:00:00Z","server":"a","readings":[]}`, `format "rackha-telemetry/9"`},
		{`{"format":"rackha-telemetry/1","server":"a","readings":[]}`, "time: missing"},
		{`{"format":"rackha-telemetry/1","time":"2026-03-01T10:00:00Z","readings":[]}`, "server: empty"},
		{`{"format":"rackha-telemetry/1","time":"2026-03-01T10:00:00Z","server":"a","readings":[{"name":"x","kind":"smell","status":"ok","value":1}]}`, `readings[0] ("x"): kind "smell"`},
		{`{"format":"rackha-telemetry/1","time":"2026-03-01T10:00:00Z","server":"a","readings":[{"name":"x","kind":"fan","status":"ok"}]}`, "without a value"},
		{`{"format":"rackha-telemetry/1","time":"2026-03-01T10:00:00Z","server":"a","readings":[{"name":"x","kind":"fan","status":"ok","value":1,"thresholds":{"upper_hot":3}}]}`, `threshold "upper_hot"`},
		{`{"format":"rackha-telemetry/1","time":"2026-03-01T10:00:00Z","server":"a","health":{"power":"halfway"}}`, `health: power: "halfway"`},
		{`{"format":"rackha-telemetry/1","time":"2026-03-01T10:00:00Z","server":"a","watchdog":{"action":"explode"}}`, `watchdog: action "explode"`},
		{`{"format":"rackha-telemetry/1","time":"2026-03-01T10:00:00Z","server":"a","watchdog":{"action":"none","timeout_seconds":-1}}`, "timeout_seconds -1"},
	} {
		dec := NewDecoder(strings.NewReader(good+"\n\n"+tc.line+"\n"), "x.jsonl")
		if _, err := dec.Next(); err != nil {
			t.Fatal(err)
		}
		_, err := dec.Next()
		var le *LineError
		if !errors.As(err, &le) || le.Line != 3 || !errors.Is(err, ErrMalformed) ||
			!strings.HasPrefix(err.Error(), "x.jsonl:3: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want x.jsonl:3: ... %s", tc.line, err, tc.want)
		}
	}
	dec := NewDecoder(strings.NewReader(good+"\n"), "x")
	if _, err := dec.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last line: %v, want io.EOF", err)
	}
	long := `{"format":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	if _, err := NewDecoder(strings.NewReader(long), "big").Next(); err == nil || !strings.HasPrefix(err.Error(), "big:1: ") {
		t.Fatalf("over-long line: %v", err)
	}
}

// TestImpossibleReadingUnavailable: a value no sensor gives is no
// evidence, as rack.Local treats it.
func TestImpossibleReadingUnavailable(t *testing.T) {
	line := `{"format":"rackha-telemetry/1","time":"2026-03-01T10:00:00Z","server":"a","readings":[{"name":"t","kind":"temperature","status":"ok","value":9000,"unit":"C"}]}`
	r, err := DecodeLine([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := r.Status()
	if st.Readings[0].Status != sensor.StatusUnavailable {
		t.Fatalf("9000 C read as %+v", st.Readings[0])
	}
}

// TestWriterRotates: past MaxBytes the file is renamed to .1, older ones
// shift up to Keep, the oldest is dropped, and nothing is lost between.
func TestWriterRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	line, _ := Encode(FromStatus(fullStatus()))
	cfg := WriterConfig{Path: path, MaxBytes: int64(3 * len(line)), Keep: 2}
	w, err := NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := fullStatus()
	for i := range 10 {
		st.Time = t0.Add(time.Duration(i) * time.Second)
		if err := w.Write(FromStatus(st)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(FromStatus(st)); err == nil {
		t.Fatal("write after Close succeeded")
	}
	// 10 lines, 3 a file: .2 holds 3-5, .1 holds 6-8, the current 9.
	want := map[string][]int{path + ".2": {3, 4, 5}, path + ".1": {6, 7, 8}, path: {9}}
	for f, secs := range want {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := NewDecoder(fh, f)
		var got []int
		for {
			r, err := dec.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, int(r.Time.Sub(t0)/time.Second))
		}
		fh.Close()
		if !reflect.DeepEqual(got, secs) {
			t.Errorf("%s holds seconds %v, want %v", f, got, secs)
		}
	}
	if _, err := os.Stat(path + ".3"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.3 kept past Keep 2: %v", path, err)
	}
	// Reopening appends.
	w, err = NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write(FromStatus(st)); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); len(data) != 2*len(line) {
		t.Errorf("after reopening: %d bytes, want two lines (%d)", len(data), 2*len(line))
	}
}

func TestWriterConfigValidate(t *testing.T) {
	for _, c := range []WriterConfig{{}, {Path: "x", MaxBytes: 0, Keep: 1}, {Path: "x", MaxBytes: 1, Keep: 0}} {
		if err := c.Validate(); !errors.Is(err, ErrInvalidWriter) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := DefaultWriterConfig("x").Validate(); err != nil {
		t.Error(err)
	}
}
