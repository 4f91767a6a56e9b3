package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/telemetry"
)

// fakeBlade answers health (power on) and one CPU temperature.
type fakeBlade struct {
	mu   sync.Mutex
	temp float64
}

func (f *fakeBlade) set(v float64) { f.mu.Lock(); f.temp = v; f.mu.Unlock() }

func (f *fakeBlade) Readings(context.Context) ([]sensor.Reading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []sensor.Reading{{Name: "CPU Temp", Kind: sensor.KindTemperature, Value: f.temp, Unit: "C",
		Thresholds: sensor.Thresholds{UpperCritical: sensor.At(90)}}}, nil
}

func (f *fakeBlade) Health(context.Context) (bmc.Health, error) {
	return bmc.Health{Power: bmc.PowerOn}, nil
}

// TestJournalFilesReplay: the rack manager's journal files are
// telemetry failoverd replay reads: polls of a blade that overheats at
// poll 6 are detected at its 4th hot poll.
func TestJournalFilesReplay(t *testing.T) {
	dir := t.TempDir()
	now := replayT0
	blades := map[string]*fakeBlade{"a": {temp: 50}, "b": {temp: 50}}
	topo, err := rack.Ring("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	lc := rack.DefaultLocalConfig()
	lc.Topology, lc.Parallel, lc.Now, lc.Logger = topo, 1, func() time.Time { return now }, discardLogger()
	for _, n := range []string{"a", "b"} {
		lc.Servers = append(lc.Servers, rack.Server{Name: n, Sensors: blades[n], Health: blades[n]})
	}
	local, err := rack.NewLocal(lc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{RackManager: RackManagerConfig{JournalDir: dir, JournalMaxBytes: 4096, JournalKeep: 10}}
	j := &journalFiles{local: local, servers: []string{"a", "b"}, writers: map[string]*telemetry.Writer{},
		last: map[string]time.Time{}, log: discardLogger()}
	for _, n := range j.servers {
		w, err := telemetry.NewWriter(cfg.journalWriterConfig(n))
		if err != nil {
			t.Fatal(err)
		}
		j.writers[n] = w
	}
	for i := range 20 {
		if i == 6 {
			blades["a"].set(95)
		}
		local.Poll(context.Background())
		if i%3 == 0 {
			j.flush() // several statuses at once, and none twice
		}
		now = now.Add(time.Second)
	}
	j.Finish()
	// 20 lines of a are more than 4096 bytes: rotated files, oldest
	// last, then the current one.
	var files []string
	for k := 10; k >= 1; k-- {
		if f := fmt.Sprintf("%s.%d", filepath.Join(dir, "a.jsonl"), k); fileExists(f) {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatal("the journal of a never rotated past journal_max_bytes 4096")
	}
	files = append(files, filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl"))
	n := 0
	for _, f := range files[:len(files)-1] {
		n += len(readRecords(t, f))
	}
	if n != 20 {
		t.Fatalf("a's journal files hold %d statuses, want the 20 polled", n)
	}
	evs := replayJSON(t, files...)
	det, ok := firstEvent(evs, failover.EventDetected, "a")
	if !ok || !det.Time.Equal(replayT0.Add(9*time.Second)) {
		t.Fatalf("detection %+v, want at poll 9 (the 4th hot one): %v", det, evs)
	}
}

func TestJournalConfigChecked(t *testing.T) {
	for _, tc := range []struct{ add, want string }{
		{"  journal_max_bytes: 1000\n", "rack_manager.journal_dir: is empty"},
		{"  journal_dir: /tmp/j\n  journal_max_bytes: -5\n", "rack_manager.journal_max_bytes: -5"},
		{"  journal_dir: /tmp/j\n  journal_keep: -1\n", "rack_manager.journal_keep"},
	} {
		text := strings.Replace(goodConfig, "  tls: {cert: rm.pem, key: rm-key.pem}\n", "  tls: {cert: rm.pem, key: rm-key.pem}\n"+tc.add, 1)
		if _, err := ParseConfig("rack.yaml", []byte(text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.add, err, tc.want)
		}
	}
	text := strings.Replace(goodConfig, "  tls: {cert: rm.pem, key: rm-key.pem}\n", "  tls: {cert: rm.pem, key: rm-key.pem}\n  journal_dir: /tmp/j\n", 1)
	if _, err := ParseConfig("rack.yaml", []byte(text)); err != nil {
		t.Fatal(err)
	}
}

func fileExists(f string) bool {
	_, err := os.Stat(f)
	return err == nil
}

// TestRackManagerJournalFiles: a rack manager with journal_dir writes
// each server's polls of its real BMCs (ipmi_sim, the Redfish test
// server) as telemetry, flushes them on SIGTERM, and the files replay
// with no detection (both servers are well).
func TestRackManagerJournalFiles(t *testing.T) {
	r := newRealRack(t)
	text, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	jdir := filepath.Join(r.dir, "journal")
	text = []byte(strings.Replace(string(text), "  power_timeout: 20s\n", fmt.Sprintf("  power_timeout: 20s\n  journal_dir: %q\n", jdir), 1))
	if err := os.WriteFile(r.cfg, text, 0o600); err != nil {
		t.Fatal(err)
	}
	r.startRackManager()
	lines := func(f string) int {
		b, _ := os.ReadFile(filepath.Join(jdir, f))
		return bytes.Count(b, []byte("\n"))
	}
	for deadline := time.Now().Add(15 * time.Second); lines("s1.jsonl") < 8 || lines("s2.jsonl") < 8; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("journal files hold %d and %d lines after 15 s:\n%s", lines("s1.jsonl"), lines("s2.jsonl"), r.logOf("rack-manager"))
		}
	}
	r.rm.signal(syscall.SIGTERM)
	select {
	case <-r.rm.done:
	case <-time.After(10 * time.Second):
		t.Fatal("rack manager did not stop on SIGTERM")
	}
	if code := r.rm.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("rack manager exited %d:\n%s", code, r.logOf("rack-manager"))
	}
	for _, s := range []string{"s1", "s2"} {
		recs := readRecords(t, filepath.Join(jdir, s+".jsonl"))
		full := 0
		for _, rec := range recs {
			if rec.Server != s || rec.Format != telemetry.Format {
				t.Fatalf("%s journal: record %+v", s, rec)
			}
			if !rec.Fast {
				full++
				if !rec.OK || len(rec.Readings) == 0 || rec.Power != "on" {
					t.Fatalf("%s journal: a full poll of a well server reads %+v", s, rec)
				}
			}
		}
		if full < 3 {
			t.Fatalf("%s journal: %d full polls", s, full)
		}
	}
	evs := replayJSON(t, filepath.Join(jdir, "s1.jsonl"), filepath.Join(jdir, "s2.jsonl"))
	if len(evs) != 0 {
		var out bytes.Buffer
		run([]string{"replay", filepath.Join(jdir, "s1.jsonl"), filepath.Join(jdir, "s2.jsonl")}, &out, &out)
		b, _ := os.ReadFile(filepath.Join(jdir, "s2.jsonl"))
		t.Fatalf("replay of two well servers:\n%s\ns2 journal:\n%s", out.String(), b[:min(len(b), 3000)])
	}
}
