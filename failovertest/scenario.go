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
// the rack, closed, and the faults in the order injected; r.Check() judges
// it.
func Scenario(ctx context.Context, seed uint64) (*Rack, []Fault, error) {
	return scenario(ctx, seed, 0)
}

func scenario(ctx context.Context, seed uint64, mut mutation) (*Rack, []Fault, error) {
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
	cfg.Seed = seed
	leases := rng.IntN(2) == 0 || mut == mutLeaseUngated
	if leases {
		cfg.LeaseTTL = time.Duration(2+rng.IntN(7)) * time.Second
	}
	r, err := newRack(cfg, mut)
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
	reals := [...]FaultKind{PowerLoss, BladeFault, VoltageSag, Overheat, HangOS, LyingBMC}
	disturb := [...]FaultKind{Unreachable, FenceFails, FenceIndeterminate}
	rackWide := [...]FaultKind{StoreSlow, StoreDown, ManagerCrash}
	leaseReals := [...]FaultKind{TotalPowerLoss, Isolated, LeaseCut}
	// takeoverByLease is about when a watcher takes a server over by lease.
	takeoverByLease := 2*cfg.LeaseTTL + cfg.WatchdogTimeout + cfg.Policy.LeaseDriftMargin
	real := func(server string) {
		f := Fault{Kind: reals[rng.IntN(len(reals))], Server: server, For: time.Duration(1+rng.IntN(3)) * poll}
		if leases && rng.IntN(3) == 0 {
			f.Kind = leaseReals[rng.IntN(len(leaseReals))]
		}
		switch f.Kind {
		case LyingBMC:
			f.For = time.Duration(5+rng.IntN(20)) * poll
			f.Lag = time.Duration(rng.IntN(2000)) * time.Millisecond
		case TotalPowerLoss:
			// The BMC is back within a few polls (the usual fence path
			// then), or long after the takeover by lease.
			if rng.IntN(3) > 0 {
				f.For = takeoverByLease + time.Duration(10+rng.IntN(40))*poll
			}
		case Isolated:
			f.For = takeoverByLease + cfg.LeaseTTL + time.Duration(rng.IntN(40))*poll
		case LeaseCut:
			f.For = cfg.LeaseTTL + cfg.WatchdogTimeout + time.Duration(2+rng.IntN(30))*poll
		}
		inject(f)
	}
	for range ScenarioSteps {
		server := r.Servers[rng.IntN(len(r.Servers))].Name
		watcher := r.Topology.WatcherOf(server)
		switch x := rng.IntN(100); {
		case x < 8 && r.quiet():
			real(server)
			if len(r.Servers) > 2 && rng.IntN(6) == 0 { // two failures in one rack at once; one server lives
				if other := r.Servers[rng.IntN(len(r.Servers))].Name; other != server {
					real(other)
				}
			}
			switch rng.IntN(10) {
			case 0:
				inject(Fault{Kind: disturb[rng.IntN(len(disturb))], Server: server, For: time.Duration(1+rng.IntN(12)) * poll})
			case 1:
				inject(Fault{Kind: MonitorCrash, Server: watcher, AfterCalls: rng.IntN(8)})
			case 2:
				inject(Fault{Kind: StartFails, Server: watcher, For: time.Duration(1+rng.IntN(15)) * poll})
			case 3:
				inject(Fault{Kind: Partition, Server: server, Watcher: watcher, For: time.Duration(1+rng.IntN(12)) * poll})
			case 4:
				inject(Fault{Kind: rackWide[rng.IntN(len(rackWide))], For: time.Duration(1+rng.IntN(8)) * poll})
			}
		case x < 14:
			// The workload's noise, whatever the policy: spikes of a poll
			// or two often, now and then a glitch of three.
			if r.byName[server].up && !r.noisy(server) {
				n := 1 + rng.IntN(2)
				if x == 13 {
					n = 3
				}
				inject(Fault{Kind: Noise, Server: server, For: time.Duration(n) * poll})
			}
		case x < 17:
			inject(Fault{Kind: Unreachable, Server: server, For: time.Duration(1+rng.IntN(6)) * poll})
		case x < 20:
			inject(Fault{Kind: MonitorCrash, Server: server, AfterCalls: rng.IntN(6)})
		case x < 21:
			inject(Fault{Kind: rackWide[rng.IntN(len(rackWide))], For: time.Duration(1+rng.IntN(4)) * poll})
		case x < 23 && leases:
			// Shorter than a lease less two renewals: nothing may happen.
			if n := int(cfg.LeaseTTL/poll) - 2; n > 0 {
				inject(Fault{Kind: LeaseBlip, Server: server, For: time.Duration(1+rng.IntN(n)) * poll})
			}
		}
		r.drift(rng)
		r.Step(ctx)
	}
	r.Run(ctx, ScenarioTail)
	r.Close()
	return r, log, nil
}

// noisy reports whether a noise on server is open or ended within the
// last poll: the workload's glitches do not run into each other.
func (r *Rack) noisy(server string) bool {
	for _, f := range r.faults {
		if f.Kind == Noise && f.Server == server && r.Now().Sub(f.until) < r.cfg.PollInterval {
			return true
		}
	}
	return false
}

// drift moves healthy servers' CPU temperature and 12 V rail a little,
// well inside their thresholds: the slow drift of a real rack.
func (r *Rack) drift(rng *rand.Rand) {
	for _, s := range r.Servers {
		if !s.up || r.realFaultActive(s.Name, r.Now()) {
			continue
		}
		for _, d := range [...]struct {
			name     string
			step     float64
			min, max float64
		}{{"CPU0 Temp", 0.5, 45, 75}, {"P12V", 0.02, 11.8, 12.2}} {
			if s.drifted == nil {
				s.drifted = map[string]float64{}
			}
			v, ok := s.drifted[d.name]
			if !ok {
				v = s.baseline[d.name]
			}
			v = min(max(v+(rng.Float64()-0.5)*2*d.step, d.min), d.max)
			s.drifted[d.name] = v
			if err := s.BMC.SetValue(d.name, v); err != nil {
				r.violate("drift %s on %s: %v", d.name, s.Name, err)
			}
		}
	}
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
		m := s.mon.live()
		if !s.up || s.hung || m == nil || m.engine.Outstanding() > 0 {
			return false
		}
		for _, ph := range m.engine.Phases() {
			if ph != failover.PhaseWatching {
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
