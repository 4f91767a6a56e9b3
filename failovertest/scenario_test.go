package failovertest

import (
	"context"
	"flag"
	"fmt"
	"strings"
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
	if testing.Short() {
		n = 200
	}
	start := time.Now()
	var takeovers, alerts, faults int
	for seed := uint64(1); seed <= uint64(n); seed++ {
		r, log, err := Scenario(ctx, seed)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if err := r.Check(); err != nil {
			t.Fatalf("seed %d: %v\nreplay: go test ./failovertest -run 'TestSimulation$' -seed=%d -v", seed, err, seed)
		}
		faults += len(log)
		for _, ev := range r.events {
			switch ev.Type {
			case "backup-started":
				takeovers++
			case "alert":
				alerts++
			}
		}
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
	for _, ev := range r.Events()[2:] {
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
