// Command quickstart runs the whole failover method on a simulated rack,
// with no setup, root or network: blades watching each other, each running
// protected VMs. It injects the four failures of the method one after
// another (no power, a hung OS whose watchdog expires, a sagging voltage
// rail, an overheating CPU) and prints what the watchers did, in simulated
// time.
//
//	go run ./examples/quickstart               # readable timeline
//	go run ./examples/quickstart -json         # one JSON object per line
//	go run ./examples/quickstart -servers 4    # a ring of four blades
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/rackha/failover"
	"github.com/rackha/failover/failovertest"
	"github.com/rackha/failover/imagestore"
)

func main() {
	jsonOut := flag.Bool("json", false, "print one JSON object per line instead of a timeline")
	servers := flag.Int("servers", 2, "blades in the rack; each watches the next in a ring")
	vms := flag.Int("vms", 3, "protected VMs per blade")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *servers, *vms, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// The four detection modes of the method, in the order they are shown.
var plan = []failovertest.FaultKind{
	failovertest.PowerLoss,  // blade fault or no power
	failovertest.HangOS,     // watchdog expired
	failovertest.VoltageSag, // voltage at a danger threshold
	failovertest.Overheat,   // temperature at a danger threshold
}

func run(ctx context.Context, w io.Writer, servers, vms int, jsonOut bool) error {
	cfg := failovertest.DefaultConfig()
	cfg.Servers, cfg.VMsPerServer = servers, vms
	// Room for every VM of the rack on any one blade, so successive
	// takeovers never run out of capacity.
	cfg.Capacity.MemoryMiB = int64(servers*vms) * cfg.VMMemoryMiB
	cfg.Capacity.CPUs = servers * vms * cfg.VMCPUs
	var tl *failover.Timeline
	booted := false
	cfg.OnEvent = func(ev failover.Event) {
		if booted { // the VMs' first start at boot is not shown
			tl.Record(ev)
		}
	}
	r, err := failovertest.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	tl = failover.NewTimeline(w, jsonOut, r.Clock)
	if !jsonOut {
		fmt.Fprintf(w, "rack of %d blades, %d protected VMs each; each blade watches the next; poll every %v, debounce %d polls, watchdog %v\n",
			servers, vms, cfg.PollInterval, cfg.Policy.DebouncePolls, cfg.WatchdogTimeout)
		fmt.Fprintf(w, "simulated time; (+x) is time since the fault, a trailing +y time since detection\n")
	}
	r.Run(ctx, 3)
	booted = true
	for i, kind := range plan {
		server := r.Servers[i%len(r.Servers)].Name
		owned, err := imagestore.OwnedBy(ctx, r.Store, server)
		if err != nil {
			return err
		}
		var names []string
		for _, img := range owned {
			names = append(names, img.Name)
		}
		tl.Mark(server, string(kind), names)
		if err := r.Inject(failovertest.Fault{Kind: kind, Server: server, For: 2 * cfg.PollInterval}); err != nil {
			return err
		}
		r.Step(ctx)
		if !r.RunUntilQuiet(ctx, 300) {
			return fmt.Errorf("%s on %s: the rack did not settle within 300 polls", kind, server)
		}
		r.Run(ctx, 2)
	}
	if err := tl.Err(); err != nil {
		return err
	}
	if err := r.Check(); err != nil {
		return err
	}
	if !jsonOut {
		fmt.Fprintf(w, "\nall four failures handled; invariants held (no VM ever ran twice, every VM of a failed blade ran elsewhere within its bound)\n")
	}
	return nil
}
