package failovertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/hypervisor"
)

// takeoverTime injects kind on blade-1, which runs n VMs, and returns the
// simulated time from the fault to the last of them running on blade-2.
func takeoverTime(tb testing.TB, kind FaultKind, n int) time.Duration {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.VMsPerServer = n
	cfg.Capacity = hypervisor.Capacity{MemoryMiB: 2 * int64(n) * cfg.VMMemoryMiB, CPUs: 2 * n * cfg.VMCPUs}
	cfg.Policy.EvacuationTimeout = 10 * time.Minute
	r, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	r.Run(ctx, 2)
	at := r.Now()
	if err := r.Inject(Fault{Kind: kind, Server: "blade-1", For: 2 * time.Second}); err != nil {
		tb.Fatal(err)
	}
	if !r.RunUntilQuiet(ctx, 2000) {
		tb.Fatalf("%s with %d VMs: rack did not settle", kind, n)
	}
	started := 0
	var last time.Time
	for _, ev := range r.Events() {
		if ev.Type == failover.EventBackupStarted && ev.Server == "blade-1" && !ev.Time.Before(at) {
			started++
			last = ev.Time
		}
	}
	if started != n {
		tb.Fatalf("%s with %d VMs: %d backups started", kind, n, started)
	}
	if err := r.Check(); err != nil {
		tb.Fatal(err)
	}
	return last.Sub(at)
}

// Fault to every backup running, in simulated time with the default
// latencies (power 3 s, checkpoint 2 s, start 1 s), on the fence path
// (power loss) and the evacuation path (overheat):
//
//	go test -run '^$' -bench TakeoverFigures ./failovertest
func BenchmarkTakeoverFigures(b *testing.B) {
	for _, kind := range []FaultKind{PowerLoss, Overheat} {
		for _, n := range []int{1, 10, 50, 200} {
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
				var d time.Duration
				for b.Loop() {
					d = takeoverTime(b, kind, n)
				}
				b.ReportMetric(d.Seconds(), "sim-s-to-all-running")
			})
		}
	}
}
