package etcdlease_test

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkTakeover: one Takeover (a transaction) of a server holding no
// lease, on the embedded etcd; reports the median and p99 of its latency
// besides the mean (ns/op).
func BenchmarkTakeover(b *testing.B) {
	s := newStore(b, testConfig(embedded.endpoint, newPrefix()))
	ctx := callCtx(b)
	var took []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		if err := s.Takeover(ctx, fmt.Sprintf("blade-%d", i), "watcher"); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		i++
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkAlive: the check GateWatchdog makes before every kick.
func BenchmarkAlive(b *testing.B) {
	k := newStore(b, testConfig(embedded.endpoint, newPrefix())).Keeper("blade-a")
	runKeeper(b, k)
	waitHeld(b, k, 3*time.Second)
	for b.Loop() {
		if ok, why := k.Alive(); !ok {
			b.Fatal(why)
		}
	}
}
