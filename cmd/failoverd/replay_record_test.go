package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/telemetry"
)

// TestReplayRecordedIPMIOverheat is the record-and-replay path end to
// end with the built binaries: bmcstat -watch 200ms -json records two
// ipmi_sim blades; mid-recording the console raises a's CPU0 Temp past
// critical (92 C, critical 90 C); failoverd replay -json on the two
// files detects a at its DebouncePolls-th (4th) recorded hot poll, never
// before the raise, and b resumes a's two VMs after the evacuation.
func TestReplayRecordedIPMIOverheat(t *testing.T) {
	if err := ipmisim.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	bmcstatBin := filepath.Join(dir, "bmcstat")
	if out, err := exec.Command("go", "build", "-o", bmcstatBin, "../bmcstat").CombinedOutput(); err != nil {
		t.Fatalf("build bmcstat: %v\n%s", err, out)
	}
	temps := ipmisim.DefaultSensors()[9:15] // the six temperatures; CPU0 Temp is sensor 12
	sims := map[string]*ipmisim.Sim{}
	files := map[string]string{}
	procs := map[string]*exec.Cmd{}
	for _, name := range []string{"a", "b"} {
		s, err := ipmisim.Start(ipmisim.Config{Dir: t.TempDir(), Name: name, PoweredOn: true, Sensors: temps})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		sims[name], files[name] = s, filepath.Join(dir, name+".jsonl")
		cmd := exec.Command(bmcstatBin, "-watch", "200ms", "-json", "-out", files[name], "-server", name,
			"-ipmi", s.Addr(), "-user", s.User(), "-cipher", "3", "-sdr-cache", t.TempDir())
		cmd.Env = append(os.Environ(), "BMC_PASSWORD="+s.Password())
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[name] = cmd
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
			if t.Failed() {
				t.Logf("bmcstat %s stderr: %s", name, errb.String())
			}
		})
	}
	waitLines := func(name string, n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if data, _ := os.ReadFile(files[name]); bytes.Count(data, []byte("\n")) >= n {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: fewer than %d lines recorded in 20 s", name, n)
	}
	waitLines("a", 8)
	raised := time.Now()
	if err := sims["a"].SetRaw(12, 92); err != nil {
		t.Fatal(err)
	}
	waitLines("a", 24)
	waitLines("b", 24)
	stops := map[string]os.Signal{"a": syscall.SIGINT, "b": syscall.SIGTERM}
	for name, cmd := range procs {
		cmd.Process.Signal(stops[name])
		if err := cmd.Wait(); err != nil {
			t.Fatalf("bmcstat %s after %v: %v (want exit 0)", name, stops[name], err)
		}
	}

	// The recording: a's first hot poll is after the raise; every poll
	// is a record, ok or not.
	recs := readRecords(t, files["a"])
	firstHot := -1
	hot := make([]bool, len(recs))
	for i, r := range recs {
		st, err := r.Status()
		if err != nil {
			t.Fatal(err)
		}
		for _, rd := range st.Readings {
			hot[i] = hot[i] || rd.Name == "CPU0 Temp" && rd.Status == sensor.StatusOK && rd.Value >= 90
		}
		if hot[i] && firstHot < 0 {
			firstHot = i
		}
		if !hot[i] && firstHot >= 0 {
			t.Fatalf("poll %d reads CPU0 Temp below critical after the raise", i)
		}
	}
	if firstHot < 1 || firstHot+4 > len(recs) {
		t.Fatalf("first hot poll %d of %d", firstHot, len(recs))
	}
	if recs[firstHot-1].Time.After(raised.Add(time.Second)) {
		t.Fatalf("the last cold poll at %v, long after the raise at %v", recs[firstHot-1].Time, raised)
	}
	for _, r := range readRecords(t, files["b"]) {
		if !r.OK {
			t.Fatalf("b not ok at %v: %v", r.Time, r.Failures)
		}
	}

	out, err := exec.Command(needBinary(t), "replay", "-json", files["a"], files["b"]).Output()
	if err != nil {
		t.Fatalf("failoverd replay: %v", err)
	}
	var evs []failover.Event
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var e failover.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("replay line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	det, ok := firstEvent(evs, failover.EventDetected, "a")
	// The DebouncePolls-th hot poll in a row; a gap past MaxStatusGap
	// (a poll slowed by a loaded machine) starts the count again.
	p := failover.DefaultPolicy()
	var want time.Time
	for i, n := firstHot, 0; i < len(recs) && want.IsZero(); i++ {
		if n > 0 && recs[i].Time.Sub(recs[i-1].Time) > p.MaxStatusGap {
			n = 0
		}
		if n++; n == p.DebouncePolls {
			want = recs[i].Time
		}
	}
	if want.IsZero() {
		t.Fatal("the recording never holds DebouncePolls hot polls in a row")
	}
	if !want.Equal(recs[firstHot+p.DebouncePolls-1].Time) {
		t.Logf("a poll gap past %v: detection expected later than the 4th hot poll", p.MaxStatusGap)
	}
	if !ok || !det.Time.Equal(want) || det.Peer != "b" || det.Sensor != "CPU0 Temp" {
		t.Fatalf("detection %+v, want of CPU0 Temp by b at %v (the 4th hot poll; first hot %v)\n%s", det, want, recs[firstHot].Time, out)
	}
	if _, ok := firstEvent(evs, failover.EventDetected, "b"); ok {
		t.Fatalf("healthy b detected:\n%s", out)
	}
	fault, ok := firstEvent(evs, "fault", "a")
	if !ok || !fault.Time.Equal(recs[firstHot].Time) {
		t.Fatalf("fault mark %+v, want at the first hot poll %v", fault, recs[firstHot].Time)
	}
	evac, ok := firstEvent(evs, failover.EventEvacuated, "a")
	if !ok || evac.Time.Before(det.Time.Add(5*time.Second)) {
		t.Fatalf("evacuated %+v: want after the detection and the 5 s checkpoint latency\n%s", evac, out)
	}
	checkBackups(t, evs, "a", "b", evac.Time.Add(2*time.Second))
}

func readRecords(t *testing.T, file string) []telemetry.Record {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := telemetry.NewDecoder(f, file)
	var out []telemetry.Record
	for {
		r, err := dec.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		out = append(out, r)
	}
}
