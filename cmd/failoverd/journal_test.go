package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	j.flush()
	j.close()
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
