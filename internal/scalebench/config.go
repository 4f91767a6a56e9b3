package scalebench

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig marks a Config that Validate refuses.
var ErrInvalidConfig = errors.New("scalebench: invalid config")

// Config sizes one run.
type Config struct {
	// Racks is how many racks run, each with its own rack manager
	// (Replicas processes), ring topology and etcd prefix in the one etcd.
	Racks int
	// Replicas is how many rack-manager processes each rack runs: 1, a
	// single rack manager; 2 or more, replicas electing a leader through
	// etcd (rack_manager.replicas), of which only the leader polls.
	Replicas int
	// Leases: each monitor holds an etcd lease and kicks its BMC's
	// watchdog only while it is alive; watchers read their peers' leases
	// (lease/etcdlease).
	Leases bool
	// ServersPerRack is how many simulated BMCs (servers) each rack
	// manager polls, at the library's default intervals (1 s full, 250 ms
	// fast).
	ServersPerRack int
	// VMsPerServer is how many VMs each server runs (2 GiB, 2 CPUs each, on servers of 64 GiB and 32 CPUs).
	VMsPerServer int
	// Failing is how many servers lose main power at the same instant,
	// spread over the racks as evenly as possible, never two neighbours
	// in a ring (a server's watcher stays alive).
	Failing int
	// LeaseLoss is how many servers then lose power together with their
	// BMC (a total power loss: the BMC stops answering, the server's
	// monitor dies and its lease renewals stop reaching etcd), once the
	// first takeover is over; each is the ring neighbour but one of a
	// server of the first set. Their watchers may take over only by
	// lease, after LeaseTTL + WatchdogTimeout + the drift margin. 0: none.
	// Needs Leases.
	LeaseLoss int
	// LeaseTTL is each monitor's etcd lease TTL (whole seconds).
	LeaseTTL time.Duration
	// WatchdogTimeout is each server's BMC watchdog countdown; the
	// monitor kicks it every third of it.
	WatchdogTimeout time.Duration
	// Warmup is how long every process runs after the rack managers have
	// a status of every server and before the steady window.
	Warmup time.Duration
	// Steady is the window over which CPU and etcd requests are measured.
	Steady time.Duration
	// TakeoverLimit bounds the wait for every failed VM's backup.
	TakeoverLimit time.Duration
}

// DefaultConfig is the size of issue 11's benchmark: 1,000 BMCs across 4
// polling rack managers, 4 VMs each (4,000 VMs), 10 servers failing at
// once; each rack manager has a standby replica, and every monitor holds
// an etcd lease.
func DefaultConfig() Config {
	return Config{
		Racks:           4,
		Replicas:        2,
		Leases:          true,
		ServersPerRack:  250,
		VMsPerServer:    4,
		Failing:         10,
		LeaseLoss:       10,
		LeaseTTL:        10 * time.Second, // etcdlease's default
		WatchdogTimeout: 30 * time.Second, // watchdog.DefaultUpdaterConfig's
		Warmup:          10 * time.Second, // every monitor connected and fed
		Steady:          30 * time.Second, // 30 full polls of every BMC
		TakeoverLimit:   90 * time.Second, // the default policy takes seconds; a minute and a half is failure
	}
}

// SmallConfig is the size CI runs: 40 BMCs across 2 rack managers (each
// with a standby replica, monitors on leases), 2 failing, windows of a
// few seconds.
func SmallConfig() Config {
	return Config{
		Racks:           2,
		Replicas:        2,
		Leases:          true,
		ServersPerRack:  20,
		VMsPerServer:    4,
		Failing:         2,
		LeaseLoss:       2,
		LeaseTTL:        2 * time.Second, // short, so that CI waits seconds
		WatchdogTimeout: 6 * time.Second,
		Warmup:          time.Second,
		Steady:          2 * time.Second,
		TakeoverLimit:   60 * time.Second,
	}
}

// BMCs is the number of simulated servers.
func (c Config) BMCs() int { return c.Racks * c.ServersPerRack }

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	perRack := (c.Failing + c.Racks - 1) / max(c.Racks, 1)
	switch {
	case c.Racks < 1:
		return fmt.Errorf("%w: Racks %d must be at least 1", ErrInvalidConfig, c.Racks)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("%w: Replicas %d must be 1 (one rack manager) to 5", ErrInvalidConfig, c.Replicas)
	case c.ServersPerRack < 3:
		return fmt.Errorf("%w: ServersPerRack %d must be at least 3 (a ring with a failed server and its live watcher)", ErrInvalidConfig, c.ServersPerRack)
	case c.VMsPerServer < 1:
		return fmt.Errorf("%w: VMsPerServer %d must be at least 1", ErrInvalidConfig, c.VMsPerServer)
	case c.Failing < 1:
		return fmt.Errorf("%w: Failing %d must be at least 1", ErrInvalidConfig, c.Failing)
	case 2*perRack > c.ServersPerRack:
		return fmt.Errorf("%w: Failing %d puts %d failed servers in a rack of %d: no two may be neighbours in the ring", ErrInvalidConfig, c.Failing, perRack, c.ServersPerRack)
	case c.LeaseLoss < 0 || c.LeaseLoss > c.Failing:
		return fmt.Errorf("%w: LeaseLoss %d must be from 0 to Failing (%d)", ErrInvalidConfig, c.LeaseLoss, c.Failing)
	case c.LeaseLoss > 0 && !c.Leases:
		return fmt.Errorf("%w: LeaseLoss %d needs Leases", ErrInvalidConfig, c.LeaseLoss)
	case c.LeaseLoss > 0 && 4*perRack > c.ServersPerRack:
		return fmt.Errorf("%w: LeaseLoss %d with Failing %d puts %d failed servers in a rack of %d: each needs 3 live servers after it", ErrInvalidConfig, c.LeaseLoss, c.Failing, perRack, c.ServersPerRack)
	case c.Leases && (c.LeaseTTL < time.Second || c.LeaseTTL%time.Second != 0):
		return fmt.Errorf("%w: LeaseTTL %v must be whole seconds, at least 1s", ErrInvalidConfig, c.LeaseTTL)
	case c.Leases && c.WatchdogTimeout < 3*time.Second:
		return fmt.Errorf("%w: WatchdogTimeout %v must be at least 3s", ErrInvalidConfig, c.WatchdogTimeout)
	case c.Warmup < 0:
		return fmt.Errorf("%w: Warmup %v must not be negative", ErrInvalidConfig, c.Warmup)
	case c.Steady < time.Second:
		return fmt.Errorf("%w: Steady %v must be at least 1s (CPU time is counted in 10 ms ticks)", ErrInvalidConfig, c.Steady)
	case c.TakeoverLimit <= 0:
		return fmt.Errorf("%w: TakeoverLimit %v must be positive", ErrInvalidConfig, c.TakeoverLimit)
	}
	return nil
}

// serverName is server i (0-based) of rack r (0-based): "r1-s0001".
func serverName(r, i int) string { return fmt.Sprintf("r%d-s%04d", r+1, i+1) }

// driftMargin is the lease section's rule: at least the kick call
// timeout (a sixth of the watchdog timeout: interval/2) plus 0.1 % of
// TTL + watchdog timeout, here rounded up to the next second.
func (c Config) driftMargin() time.Duration {
	need := c.WatchdogTimeout/6 + (c.LeaseTTL+c.WatchdogTimeout)/1000
	return need.Truncate(time.Second) + time.Second
}

// LeaseBound is how long after a watcher saw a lease expire it may take
// the server over: TTL + watchdog timeout + drift margin.
func (c Config) LeaseBound() time.Duration { return c.LeaseTTL + c.WatchdogTimeout + c.driftMargin() }

// leaseLossServers are the servers of the total power loss: for the first
// c.LeaseLoss of the first set (in the order they were spread), the
// server two further along the ring.
func leaseLossServers(c Config) [][]int {
	first := failingServers(c)
	out := make([][]int, c.Racks)
	taken := make([]int, c.Racks)
	for k := range c.LeaseLoss {
		r := k % c.Racks
		out[r] = append(out[r], (first[r][taken[r]]+2)%c.ServersPerRack)
		taken[r]++
	}
	return out
}

// failingServers picks which servers fail: per rack its share of
// c.Failing, evenly spaced along the ring so that none is another's
// neighbour. It returns rack -> server indices.
func failingServers(c Config) [][]int {
	out := make([][]int, c.Racks)
	for k := range c.Failing {
		r := k % c.Racks
		out[r] = append(out[r], 0)
	}
	for r, idx := range out {
		step := c.ServersPerRack / max(len(idx), 1)
		for j := range idx {
			idx[j] = j*step + step/2
		}
		out[r] = idx
	}
	return out
}
