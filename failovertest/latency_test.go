package failovertest

import (
	"context"
	"testing"
	"time"

	"github.com/rackha/failover"
)

// detectionLatency injects kind on blade-1 and returns the simulated time
// from the fault to its detection, and to the last backup started.
func detectionLatency(t testing.TB, kind FaultKind) (detect, allRunning time.Duration) {
	ctx := context.Background()
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Run(ctx, 2)
	at := r.Now()
	if err := r.Inject(Fault{Kind: kind, Server: "blade-1", For: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if !r.RunUntilQuiet(ctx, 200) {
		t.Fatalf("%s: rack did not settle", kind)
	}
	for _, ev := range r.Events() {
		if ev.Time.Before(at) || ev.Server != "blade-1" {
			continue
		}
		switch ev.Type {
		case failover.EventDetected:
			detect = ev.Time.Sub(at)
		case failover.EventBackupStarted:
			allRunning = ev.Time.Sub(at)
		}
	}
	if detect == 0 {
		t.Fatalf("%s: never detected", kind)
	}
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	return detect, allRunning
}

// Detection latency in simulated time is at most the debounce plus one
// poll (plus the watchdog timeout for a hung OS, which only shows once the
// timer runs out).
func TestDetectionLatency(t *testing.T) {
	cfg := DefaultConfig()
	limit := time.Duration(cfg.Policy.DebouncePolls+1) * cfg.PollInterval
	for _, kind := range []FaultKind{PowerLoss, BladeFault, VoltageSag, Overheat, HangOS} {
		d, all := detectionLatency(t, kind)
		want := limit
		if kind == HangOS {
			want += cfg.WatchdogTimeout
		}
		t.Logf("%-12s detected after %v (limit %v); all 3 VMs running elsewhere after %v", kind, d, want, all)
		if d > want {
			t.Errorf("%s: detected after %v, want at most %v", kind, d, want)
		}
	}
}

func BenchmarkDetectionLatency(b *testing.B) {
	for _, kind := range []FaultKind{PowerLoss, Overheat, HangOS} {
		b.Run(string(kind), func(b *testing.B) {
			var d, all time.Duration
			for b.Loop() {
				d, all = detectionLatency(b, kind)
			}
			b.ReportMetric(d.Seconds(), "sim-s-to-detect")
			b.ReportMetric(all.Seconds(), "sim-s-to-all-running")
		})
	}
}
