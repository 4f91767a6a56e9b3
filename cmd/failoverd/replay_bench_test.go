package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rackha/failover/telemetry"
)

// BenchmarkReplayHour replays an hour of two servers polled every second
// with 11 temperature sensors each (one overheat, taken over).
//
//	go test -run XXX -bench ReplayHour -benchmem -count 5 ./cmd/failoverd
func BenchmarkReplayHour(b *testing.B) {
	dir := b.TempDir()
	var files []string
	for _, n := range []string{"a", "b"} {
		var buf bytes.Buffer
		for i := range 3600 {
			r := telemetry.Record{Time: replayT0.Add(time.Duration(i) * time.Second), Server: n, Target: n, OK: true, Power: "on",
				Health: &telemetry.Health{Power: "on", Events: []telemetry.Event{}}}
			for k := range 11 {
				v := 40.0 + float64(i%7)
				if n == "a" && k == 0 && i >= 1800 && i < 1810 {
					v = 95
				}
				r.Readings = append(r.Readings, telemetry.Reading{Name: fmt.Sprintf("Temp %d", k), Kind: "temperature",
					Status: "ok", Value: &v, Unit: "C", Thresholds: map[string]float64{"upper_critical": 90}})
			}
			line, err := telemetry.Encode(r)
			if err != nil {
				b.Fatal(err)
			}
			buf.Write(line)
		}
		f := filepath.Join(dir, n+".jsonl")
		if err := os.WriteFile(f, buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, f)
	}
	for b.Loop() {
		if code := run(append([]string{"replay", "-json"}, files...), io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
