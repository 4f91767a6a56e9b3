package failovertest

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Each deliberate bug must break an invariant within the default seeds:
// the checker bites. The first seed that catches each is logged.
func TestSimulationCatchesDeliberateBugs(t *testing.T) {
	ctx := context.Background()
	limit := uint64(*seedsFlag)
	for m := mutStartBeforeFence; m <= mutLeaseUngated; m++ {
		t.Run(m.String(), func(t *testing.T) {
			t.Parallel()
			var next, caught atomic.Uint64
			caught.Store(limit + 1)
			var wg sync.WaitGroup
			for range max(1, runtime.GOMAXPROCS(0)/2) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						seed := next.Add(1)
						if seed > limit || seed > caught.Load() {
							return
						}
						r, _, err := scenario(ctx, seed, m)
						if err != nil {
							t.Error(err)
							return
						}
						if r.Check() != nil {
							for c := caught.Load(); seed < c && !caught.CompareAndSwap(c, seed); c = caught.Load() {
							}
							return
						}
					}
				}()
			}
			wg.Wait()
			seed := caught.Load()
			if seed > limit {
				t.Fatalf("%s: no invariant broken in %d seeds", m, limit)
			}
			r, _, _ := scenario(ctx, seed, m)
			t.Logf("%s: caught by seed %d: %v", m, seed, r.Check())
		})
	}
}
