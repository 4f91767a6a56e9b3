package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/telemetry"
)

var replayT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// cpuTemps writes a recording of server: one poll every interval with a
// CPU temperature (upper critical 90 C) of temps[i], power on.
func cpuTemps(t *testing.T, dir, server string, interval time.Duration, temps []float64) string {
	t.Helper()
	var buf bytes.Buffer
	for i, v := range temps {
		v := v
		r := telemetry.Record{Format: telemetry.Format, Time: replayT0.Add(time.Duration(i) * interval), Server: server,
			Target: "ipmi " + server + ":623", OK: true, Power: "on",
			Readings: []telemetry.Reading{{Name: "CPU Temp", Kind: "temperature", Status: "ok", Value: &v, Unit: "C",
				Thresholds: map[string]float64{"upper_caution": 80, "upper_critical": 90, "upper_fatal": 100}}},
			Health: &telemetry.Health{Power: "on", Events: []telemetry.Event{}}, NotOffered: []string{"watchdog"}}
		line, err := telemetry.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(line)
	}
	f := filepath.Join(dir, server+".jsonl")
	if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// temps is n polls at base with the polls at hot set to v.
func temps(n int, base float64, v float64, hot ...int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = base
	}
	for _, i := range hot {
		out[i] = v
	}
	return out
}

func span(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// replayJSON runs failoverd replay -json args and decodes its events.
func replayJSON(t *testing.T, args ...string) []failover.Event {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append([]string{"replay", "-json"}, args...), &out, &errb); code != 0 {
		t.Fatalf("replay exit %d: %s", code, errb.String())
	}
	var evs []failover.Event
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var e failover.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

func firstEvent(evs []failover.Event, typ failover.EventType, server string) (failover.Event, bool) {
	for _, e := range evs {
		if e.Type == typ && e.Server == server {
			return e, true
		}
	}
	return failover.Event{}, false
}

func count(evs []failover.Event, typ failover.EventType) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestReplayOverheatDetectedAfterDebounce: a CPU held past critical from
// poll 10 is detected at the DebouncePolls-th hot poll (default 4: poll
// 13), then evacuated, fenced and its two VMs started on its watcher.
func TestReplayOverheatDetectedAfterDebounce(t *testing.T) {
	dir := t.TempDir()
	const interval = 500 * time.Millisecond
	a := cpuTemps(t, dir, "a", interval, temps(60, 50, 95, span(10, 60)...))
	b := cpuTemps(t, dir, "b", interval, temps(60, 50, 0))
	evs := replayJSON(t, a, b)
	det, ok := firstEvent(evs, failover.EventDetected, "a")
	if !ok {
		t.Fatalf("no detection of a: %v", evs)
	}
	want := replayT0.Add(13 * interval)
	if !det.Time.Equal(want) || det.Peer != "b" || det.Sensor != "CPU Temp" {
		t.Fatalf("detected %v at %v by %s, want at %v (poll 13) by b", det, det.Time, det.Peer, want)
	}
	if _, ok := firstEvent(evs, failover.EventDetected, "b"); ok {
		t.Fatalf("healthy b detected: %v", evs)
	}
	// Still powered and answering: the default policy evacuates
	// (checkpoints) and resumes the VMs on b, then power-cycles a.
	evac, ok := firstEvent(evs, failover.EventEvacuated, "a")
	if !ok || evac.Time.Before(det.Time.Add(5*time.Second)) {
		t.Fatalf("a not evacuated a checkpoint latency (5s) after the detection: %v", evs)
	}
	checkBackups(t, evs, "a", "b", evac.Time)
	if _, ok := firstEvent(evs, failover.EventFenced, "a"); ok {
		t.Fatalf("evacuated a fenced: %v", evs)
	}
}

// TestReplayFenceWithoutEvacuation: with evacuate false the overheated
// server is fenced, then its VMs cold-start on the watcher. Its
// recording stays hot until poll 40, but after the fence it is
// superseded: restarted, a reads healthy (sensors unavailable) and
// recovers before poll 40, and is not detected again.
func TestReplayFenceWithoutEvacuation(t *testing.T) {
	dir := t.TempDir()
	const interval = 500 * time.Millisecond
	a := cpuTemps(t, dir, "a", interval, temps(60, 50, 95, span(10, 40)...))
	b := cpuTemps(t, dir, "b", interval, temps(60, 50, 0))
	p := filepath.Join(dir, "fence.yaml")
	if err := os.WriteFile(p, []byte("policy:\n  evacuate: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	evs := replayJSON(t, "-policy", p, "-power-latency", "4s", a, b)
	det, ok := firstEvent(evs, failover.EventDetected, "a")
	if !ok || !det.Time.Equal(replayT0.Add(13*interval)) {
		t.Fatalf("detection %v, want at poll 13: %v", det, evs)
	}
	fenced, ok := firstEvent(evs, failover.EventFenced, "a")
	if !ok || fenced.Time.Before(det.Time.Add(4*time.Second)) {
		t.Fatalf("a not fenced a power latency (4s) after the detection: %v", evs)
	}
	checkBackups(t, evs, "a", "b", fenced.Time)
	restarted, ok := firstEvent(evs, failover.EventRestarted, "a")
	if !ok || restarted.Time.Before(fenced.Time) {
		t.Fatalf("a not restarted after the fence: %v", evs)
	}
	rec, ok := firstEvent(evs, failover.EventRecovered, "a")
	if !ok || !rec.Time.Before(replayT0.Add(40*interval)) || rec.Time.Before(restarted.Time) {
		t.Fatalf("recovered %+v: want after the restart at %v and before the recording cools (poll 40): %v", rec, restarted.Time, evs)
	}
	if n := count(evs, failover.EventDetected); n != 1 {
		t.Fatalf("%d detections, want 1 (superseded hot records are no failure): %v", n, evs)
	}
}

// checkBackups: every VM of failed runs on watcher, started after from.
func checkBackups(t *testing.T, evs []failover.Event, failed, watcher string, from time.Time) {
	t.Helper()
	if n := count(evs, failover.EventBackupStarted); n != 2 {
		t.Fatalf("%d backups started, want %s's 2 VMs: %v", n, failed, evs)
	}
	for _, e := range evs {
		if e.Type == failover.EventBackupStarted && (e.Peer != watcher || !strings.HasPrefix(e.VM, failed+"-vm") || e.Time.Before(from)) {
			t.Fatalf("backup %v: want %s's VM on %s after %v", e, failed, watcher, from)
		}
	}
}

// TestReplayNoiseBelowDebounce: spikes past critical shorter than
// DebouncePolls are no failure.
func TestReplayNoiseBelowDebounce(t *testing.T) {
	dir := t.TempDir()
	hot := []int{5, 6, 7, 20, 30, 31, 45, 46, 47}
	a := cpuTemps(t, dir, "a", 500*time.Millisecond, temps(60, 50, 97, hot...))
	b := cpuTemps(t, dir, "b", 500*time.Millisecond, temps(60, 50, 0))
	evs := replayJSON(t, a, b)
	if n := count(evs, failover.EventDetected) + count(evs, failover.EventFenced) + count(evs, failover.EventBackupStarted); n != 0 {
		t.Fatalf("noise below debounce acted on: %v", evs)
	}
}

// TestReplayCompareDebounceOne: a debounce of one poll detects (and
// takes over on) noise the default ignores; -compare says so.
func TestReplayCompareDebounceOne(t *testing.T) {
	dir := t.TempDir()
	a := cpuTemps(t, dir, "a", 500*time.Millisecond, temps(40, 50, 97, 7, 8))
	b := cpuTemps(t, dir, "b", 500*time.Millisecond, temps(40, 50, 0))
	one := filepath.Join(dir, "debounce1.yaml")
	if err := os.WriteFile(one, []byte("policy:\n  debounce_polls: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"replay", "-json", "-compare", one, a, b}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var diffs []eventDiff
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var d eventDiff
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		diffs = append(diffs, d)
	}
	if len(diffs) == 0 || diffs[0].Kind != "only-b" || diffs[0].Event.Type != failover.EventDetected ||
		diffs[0].Event.Server != "a" || !diffs[0].Event.Time.Equal(replayT0.Add(7*500*time.Millisecond)) {
		t.Fatalf("first difference %+v, want a detected at poll 7 only with debounce 1; all: %+v", diffs, diffs)
	}
	for _, d := range diffs {
		if d.Kind != "only-b" {
			t.Fatalf("the default policy did something debounce 1 did not: %+v", d)
		}
	}
	out.Reset()
	if code := run([]string{"replay", "-compare", one, a, b}, &out, &errb); code != 0 || !strings.Contains(out.String(), "only with "+one) {
		t.Fatalf("text compare exit %d:\n%s", code, out.String())
	}
}

// TestReplayBadInput: a malformed line and a bad policy are named by
// file:line (and field).
func TestReplayBadInput(t *testing.T) {
	dir := t.TempDir()
	a := cpuTemps(t, dir, "a", time.Second, temps(3, 50, 0))
	b := cpuTemps(t, dir, "b", time.Second, temps(3, 50, 0))
	bad := filepath.Join(dir, "bad.jsonl")
	data, _ := os.ReadFile(a)
	os.WriteFile(bad, append(data, []byte(`{"format":"rackha-telemetry/1","server":"a","time":"2026-03-01T10:00:09Z","readings":[{"name":"x","kind":"smell","status":"ok","value":1}]}`+"\n")...), 0o644)
	policy := filepath.Join(dir, "p.yaml")
	os.WriteFile(policy, []byte("policy:\n  debounce_polls: 2\n  fence_settle: soon\n"), 0o644)
	zero := filepath.Join(dir, "zero.yaml")
	os.WriteFile(zero, []byte("# no debounce\npolicy:\n  debounce_polls: 0\n"), 0o644)
	unknown := filepath.Join(dir, "u.yaml")
	os.WriteFile(unknown, []byte("policy:\n  debounce_pols: 2\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{bad, b}, bad + ":4: "},
		{[]string{"-policy", policy, a, b}, policy + ":3: policy.fence_settle: "},
		{[]string{"-policy", unknown, a, b}, unknown + ":2: policy.debounce_pols: unknown field"},
		{[]string{"-policy", zero, a, b}, zero + ":3: policy.debounce_polls: refused"},
		{[]string{"-compare", filepath.Join(dir, "missing.yaml"), a, b}, "missing.yaml:0: (file): cannot read"},
		{[]string{a}, "at least 2"},
		{[]string{"-topology", "star", a, b}, "-topology"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"replay"}, tc.args...), &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// TestReplayPolicyFromDaemonConfig: a whole failoverd config is a policy
// file (its policy section is used).
func TestReplayPolicyFromDaemonConfig(t *testing.T) {
	dir := t.TempDir()
	a := cpuTemps(t, dir, "a", 500*time.Millisecond, temps(40, 50, 97, span(5, 40)...))
	b := cpuTemps(t, dir, "b", 500*time.Millisecond, temps(40, 50, 0))
	cfg := filepath.Join(dir, "rack.yaml")
	if err := os.WriteFile(cfg, []byte(goodConfig), 0o644); err != nil { // debounce_polls: 3
		t.Fatal(err)
	}
	det, ok := firstEvent(replayJSON(t, "-policy", cfg, a, b), failover.EventDetected, "a")
	if !ok || !det.Time.Equal(replayT0.Add(7*500*time.Millisecond)) {
		t.Fatalf("detection %+v, want at poll 7 (the 3rd hot one)", det)
	}
}

// TestReplayWatcherFencedMidTakeover: in a ring a→b→c→a, b and c
// overheat together. a fences b, whose monitor was taking c over: that
// monitor is gone with b's power. Restarted, b boots a new monitor,
// which detects c again and takes its VMs.
func TestReplayWatcherFencedMidTakeover(t *testing.T) {
	dir := t.TempDir()
	const interval = 500 * time.Millisecond
	files := []string{cpuTemps(t, dir, "a", interval, temps(120, 50, 0))}
	for _, n := range []string{"b", "c"} {
		files = append(files, cpuTemps(t, dir, n, interval, temps(120, 50, 95, span(10, 120)...)))
	}
	p := filepath.Join(dir, "fence.yaml")
	if err := os.WriteFile(p, []byte("policy:\n  evacuate: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	evs := replayJSON(t, append([]string{"-policy", p}, files...)...)
	var cDetected, cFenced []failover.Event
	for _, e := range evs {
		switch {
		case e.Type == failover.EventDetected && e.Server == "c":
			cDetected = append(cDetected, e)
		case e.Type == failover.EventFenced && e.Server == "c":
			cFenced = append(cFenced, e)
		}
	}
	bFenced, _ := firstEvent(evs, failover.EventFenced, "b")
	bRestarted, _ := firstEvent(evs, failover.EventRestarted, "b")
	if len(cDetected) != 2 || len(cFenced) != 1 || bFenced.Time.IsZero() || !bFenced.Time.Before(cFenced[0].Time) ||
		cDetected[1].Time.Before(bRestarted.Time) || cDetected[1].Peer != "b" {
		t.Fatalf("want c detected by b, b fenced (its takeover of c lost), then c detected again by b's new monitor after b's restart and fenced once: %v", evs)
	}
	checkBackupsOf(t, evs, "c", "b", cFenced[0].Time)
	checkBackupsOf(t, evs, "b", "a", bFenced.Time)
}

// checkBackupsOf: failed's 2 VMs start on watcher after from.
func checkBackupsOf(t *testing.T, evs []failover.Event, failed, watcher string, from time.Time) {
	t.Helper()
	n := 0
	for _, e := range evs {
		if e.Type == failover.EventBackupStarted && strings.HasPrefix(e.VM, failed+"-vm") {
			n++
			if e.Peer != watcher || e.Time.Before(from) {
				t.Fatalf("backup %v: want %s's VM on %s after %v", e, failed, watcher, from)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d of %s's VMs started, want 2: %v", n, failed, evs)
	}
}
