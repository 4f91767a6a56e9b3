package main

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover"
)

var writeFanRecording = flag.Bool("write-fan-recording", false, "rewrite testdata/fan-failure/*.jsonl")

// fanRecording is a recording of two servers polled every second for
// 15 min; a's fan stops at 11 min (past the default PredictReversal, so
// the whole PredictLead applies) and its CPU heads from 50 °C toward
// 110 °C (time constant 150 s), past the critical 90 °C at about 825 s.
var fanRecording = []string{"testdata/fan-failure/a.jsonl", "testdata/fan-failure/b.jsonl"}

func TestReplayWriteFanRecording(t *testing.T) {
	if !*writeFanRecording {
		t.Skip("run with -write-fan-recording to rewrite the recording")
	}
	dir := t.TempDir()
	var a, b []float64
	for s := range 900 {
		v := 50.0
		if s >= 660 {
			v = 110 - 60*math.Exp(-float64(s-660)/150)
		}
		a = append(a, math.Round(v*2)/2)
		b = append(b, 50)
	}
	for i, f := range []string{cpuTemps(t, dir, "a", time.Second, a), cpuTemps(t, dir, "b", time.Second, b)} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(fanRecording[i]), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fanRecording[i], data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplayPredictsFanFailure: replaying the fan-failure recording
// shows a predicted detection of a ("predicted": true, the sensor, its
// rate and predicted crossing), its evacuation to b, no fence, all
// before the recorded fault (the threshold crossing); the text output
// prints both.
func TestReplayPredictsFanFailure(t *testing.T) {
	evs := replayJSON(t, fanRecording...)
	fault, ok := firstEvent(evs, "fault", "a")
	if !ok {
		t.Fatalf("no recorded fault of a: %v", evs)
	}
	det, ok := firstEvent(evs, failover.EventDetected, "a")
	if !ok || !det.Predicted || det.Sensor != "CPU Temp" || det.Rate <= 0 || det.Crossing.IsZero() || !det.Time.Before(fault.Time) {
		t.Fatalf("detection %+v, recorded fault at %v", det, fault.Time)
	}
	evac, ok := firstEvent(evs, failover.EventEvacuated, "a")
	if !ok || !evac.Time.Before(fault.Time) {
		t.Fatalf("evacuated %v (%v), fault at %v: %v", evac.Time, ok, fault.Time, evs)
	}
	checkBackups(t, evs, "a", "b", evac.Time)
	for _, e := range evs {
		if e.Type == failover.EventFenced && !e.Time.After(fault.Time) {
			t.Fatalf("fenced on a prediction: %v", e)
		}
	}
	t.Logf("predicted at %v, threshold crossed at %v (%v sooner)", det.Time.Sub(replayT0), fault.Time.Sub(replayT0), fault.Time.Sub(det.Time))

	var out, errb bytes.Buffer
	if code := run(append([]string{"replay"}, fanRecording...), &out, &errb); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errb.String())
	}
	text := out.String()
	if !strings.Contains(text, "predicted rate=") || !strings.Contains(text, "FAULT") {
		t.Fatalf("text replay shows no prediction or fault:\n%s", text)
	}
	t.Logf("\n%s", text)
}

// TestReplayPredictPolicyKnobs: the policy file's predict keys reach the
// engine: predict: false leaves the fan failure to threshold detection,
// a per-sensor lead of 1 min predicts it later, and a bad value is named
// with its file, line and key.
func TestReplayPredictPolicyKnobs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	fault, _ := firstEvent(replayJSON(t, fanRecording...), "fault", "a")
	base, _ := firstEvent(replayJSON(t, fanRecording...), failover.EventDetected, "a")

	off := write("off.yaml", "policy:\n  predict: false\n")
	det, ok := firstEvent(replayJSON(t, append([]string{"-policy", off}, fanRecording...)...), failover.EventDetected, "a")
	if !ok || det.Predicted || det.Time.Before(fault.Time) {
		t.Fatalf("predict: false: detection %+v, fault at %v", det, fault.Time)
	}
	short := write("short.yaml", "policy:\n  predict_sensors:\n    CPU Temp:\n      lead: 1m\n")
	det, ok = firstEvent(replayJSON(t, append([]string{"-policy", short}, fanRecording...)...), failover.EventDetected, "a")
	if !ok || !det.Predicted || !det.Time.After(base.Time) || !det.Time.Before(fault.Time) {
		t.Fatalf("1 min lead: detection %+v, default at %v, fault at %v", det, base.Time, fault.Time)
	}
	bad := write("bad.yaml", "policy:\n  predict_lead: soon\n")
	var out, errb bytes.Buffer
	if code := run(append([]string{"replay", "-policy", bad}, fanRecording...), &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), bad+":2: policy.predict_lead: ") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
