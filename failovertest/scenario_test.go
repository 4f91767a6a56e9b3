package failovertest

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"github.com/rackha/failover"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "run only this simulation seed and print its timeline")
	seedsFlag = flag.Int("seeds", 2000, "how many simulation seeds TestSimulation runs")
)

func TestSimulation(t *testing.T) {
	ctx := context.Background()
	if *seedFlag != 0 {
		r, _, err := Scenario(ctx, *seedFlag)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("timeline of seed %d:\n%s", *seedFlag, strings.Join(r.Timeline(), "\n"))
		if err := r.Check(); err != nil {
			t.Fatal(err)
		}
		return
	}
	n := *seedsFlag
	if testing.Short() || (raceEnabled && !seedsSet()) {
		n = 300 // the race detector makes a seed ten times slower; .ci/run also runs all seeds without it
	}
	start := time.Now()
	// Seeds run on every core, each on its own rack: a seed's run does
	// not depend on the others, so each replays alone.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	type result struct {
		seed                      uint64
		err                       error
		takeovers, alerts, faults int
	}
	seeds := make(chan uint64)
	results := make(chan result)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range seeds {
				r, log, err := Scenario(ctx, seed)
				res := result{seed: seed, err: err}
				if err == nil {
					res.err = r.Check()
					res.faults = len(log)
					for _, ev := range r.events {
						switch ev.Type {
						case "backup-started":
							res.takeovers++
						case "alert":
							res.alerts++
						}
					}
				}
				results <- res
			}
		}()
	}
	go func() {
		for seed := uint64(1); seed <= uint64(n); seed++ {
			seeds <- seed
		}
		close(seeds)
		wg.Wait()
		close(results)
	}()
	var takeovers, alerts, faults int
	var failed []result
	for res := range results {
		if res.err != nil {
			failed = append(failed, res)
		}
		takeovers, alerts, faults = takeovers+res.takeovers, alerts+res.alerts, faults+res.faults
	}
	if len(failed) > 0 {
		slices.SortFunc(failed, func(a, b result) int { return cmp.Compare(a.seed, b.seed) })
		for _, f := range failed[:min(len(failed), 5)] {
			t.Errorf("seed %d: %v\nreplay: go test ./failovertest -run 'TestSimulation$' -seed=%d -v", f.seed, f.err, f.seed)
		}
		var all []string
		for _, f := range failed {
			all = append(all, fmt.Sprint(f.seed))
		}
		t.Fatalf("%d of %d seeds broke an invariant: %s", len(failed), n, strings.Join(all, " "))
	}
	t.Logf("%d seeds in %v: %d faults injected, %d backups started, %d alerts, no invariant broken",
		n, time.Since(start).Round(time.Millisecond), faults, takeovers, alerts)
	if takeovers == 0 || faults == 0 {
		t.Fatalf("the simulation exercised nothing: %d faults, %d takeovers", faults, takeovers)
	}
}

func TestScenarioReplaysExactly(t *testing.T) {
	ctx := context.Background()
	for _, seed := range []uint64{7, 42, 1234} {
		a, _, err := Scenario(ctx, seed)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := Scenario(ctx, seed)
		if err != nil {
			t.Fatal(err)
		}
		ta, tb := a.Timeline(), b.Timeline()
		if strings.Join(ta, "\n") != strings.Join(tb, "\n") {
			t.Errorf("seed %d: two runs differ", seed)
		}
		if len(ta) == 0 {
			t.Errorf("seed %d: empty timeline", seed)
		}
	}
}

func ExampleRack() {
	ctx := context.Background()
	r, err := New(Config{Servers: 2, VMsPerServer: 1})
	if err != nil {
		panic(err)
	}
	r.Run(ctx, 2)
	_ = r.Inject(Fault{Kind: PowerLoss, Server: "blade-1"})
	r.Run(ctx, 10)
	for _, ev := range r.Events() {
		switch ev.Type {
		case failover.EventReconciled, failover.EventWatchdogSeen: // the boot, and what each watcher journals
			continue
		}
		fmt.Println(strings.TrimSpace(fmt.Sprintln(ev.Type, ev.Server, ev.Peer, ev.Cause, ev.VM)))
	}
	fmt.Println("invariants:", r.Check())
	// Output:
	// detected blade-1 blade-2 no-power
	// fenced blade-1 blade-2 no-power
	// backup-started blade-1 blade-2 no-power blade-1-vm1
	// restarted blade-1 blade-2 no-power
	// recovered blade-1 blade-2 no-power
	// invariants: <nil>
}

func seedsSet() bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "seeds" })
	return set
}
