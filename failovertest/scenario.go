package failovertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/hypervisor"
)

// ScenarioSteps is how many polls a random scenario injects faults in;
// ScenarioTail is how many quiet polls follow so every bound passes.
const (
	ScenarioSteps = 150
	ScenarioTail  = 100
)

// Scenario builds a rack and a fault schedule from seed and runs it: 2 to
// 4 servers with 1 to 4 VMs each (sometimes too little capacity to carry
// a peer), real failures one at a time while the rack is quiet, each
// sometimes paired with an unreachable BMC, a failing or indeterminate
// fence, a crash of the watcher's monitor or failing starts on the watcher, plus noise, BMC losses and
// monitor crashes at random. The same seed gives the same run. It returns
// the rack and the faults in the order injected; r.Check() judges it.
func Scenario(ctx context.Context, seed uint64) (*Rack, []Fault, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cfg := DefaultConfig()
	cfg.Servers = 2 + rng.IntN(3)
	cfg.VMsPerServer = 1 + rng.IntN(4)
	vm := hypervisor.Capacity{MemoryMiB: cfg.VMMemoryMiB, CPUs: cfg.VMCPUs}
	own := hypervisor.Capacity{MemoryMiB: int64(cfg.VMsPerServer) * vm.MemoryMiB, CPUs: cfg.VMsPerServer * vm.CPUs}
	if rng.IntN(5) == 0 {
		cfg.Capacity = hypervisor.Capacity{MemoryMiB: own.MemoryMiB + vm.MemoryMiB, CPUs: own.CPUs + vm.CPUs}
	} else {
		cfg.Capacity = hypervisor.Capacity{MemoryMiB: 2 * own.MemoryMiB, CPUs: 2 * own.CPUs}
	}
	r, err := New(cfg)
	if err != nil {
		return nil, nil, err
	}
	var log []Fault
	inject := func(f Fault) {
		if err := r.Inject(f); err != nil {
			r.violate("inject %v: %v", f, err)
			return
		}
		log = append(log, f)
	}
	poll := cfg.PollInterval
	reals := [...]FaultKind{PowerLoss, BladeFault, VoltageSag, Overheat, HangOS}
	disturb := [...]FaultKind{Unreachable, FenceFails, FenceIndeterminate}
	for range ScenarioSteps {
		server := r.Servers[rng.IntN(len(r.Servers))].Name
		switch x := rng.IntN(100); {
		case x < 8 && r.quiet():
			inject(Fault{Kind: reals[rng.IntN(len(reals))], Server: server, For: time.Duration(1+rng.IntN(3)) * poll})
			switch rng.IntN(7) {
			case 0:
				inject(Fault{Kind: disturb[rng.IntN(len(disturb))], Server: server, For: time.Duration(1+rng.IntN(12)) * poll})
			case 1:
				inject(Fault{Kind: MonitorCrash, Server: r.Topology.WatcherOf(server), AfterCalls: rng.IntN(8)})
			case 2:
				inject(Fault{Kind: StartFails, Server: r.Topology.WatcherOf(server), For: time.Duration(1+rng.IntN(15)) * poll})
			}
		case x < 13:
			if r.byName[server].up {
				inject(Fault{Kind: Noise, Server: server, For: time.Duration(1+rng.IntN(cfg.Policy.DebouncePolls)) * poll})
			}
		case x < 16:
			inject(Fault{Kind: Unreachable, Server: server, For: time.Duration(1+rng.IntN(6)) * poll})
		case x < 19:
			inject(Fault{Kind: MonitorCrash, Server: server, AfterCalls: rng.IntN(6)})
		}
		r.Step(ctx)
	}
	r.Run(ctx, ScenarioTail)
	return r, log, nil
}

// Quiet reports whether every server is up, no real failure is open and
// every monitor is simply watching: the moment to inject the next failure.
func (r *Rack) Quiet() bool { return r.quiet() }

// RunUntilQuiet steps until Quiet, at most max steps, and reports whether
// the rack got quiet.
func (r *Rack) RunUntilQuiet(ctx context.Context, max int) bool {
	for range max {
		r.Step(ctx)
		if r.quiet() {
			return true
		}
	}
	return false
}

func (r *Rack) quiet() bool {
	for _, s := range r.Servers {
		if !s.up || s.hung || s.monitor == nil || s.sw.crashed {
			return false
		}
		for _, p := range r.Topology.Watched(s.Name) {
			if s.monitor.Phase(p) != failover.PhaseWatching {
				return false
			}
		}
	}
	for _, f := range r.faults {
		if f.Kind.Real() && f.ended.IsZero() {
			return false
		}
	}
	return true
}

// Timeline returns the faults and events in time order as readable lines,
// times relative to the start: what a failing seed prints.
func (r *Rack) Timeline() []string {
	var out []string
	fi := 0
	emitFaults := func(upTo time.Time) {
		for fi < len(r.faults) && !r.faults[fi].at.After(upTo) {
			out = append(out, fmt.Sprintf("%8v  FAULT %v", r.since(r.faults[fi].at), r.faults[fi].Fault))
			fi++
		}
	}
	for _, ev := range r.events {
		emitFaults(ev.Time)
		out = append(out, fmt.Sprintf("%8v  %v", r.since(ev.Time), ev))
	}
	emitFaults(r.Now())
	return out
}
