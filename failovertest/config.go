package failovertest

import (
	"fmt"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/hypervisor"
)

// Config describes a simulated rack.
type Config struct {
	// Servers in the rack, named blade-1 ... blade-N; each watches the next
	// in a ring (two servers watch each other). Default 2.
	Servers int
	// VMsPerServer protected VMs start on each server. Default 3.
	VMsPerServer int
	// VMMemoryMiB and VMCPUs each VM needs. Default 2048 MiB and 2 CPUs.
	VMMemoryMiB int64
	VMCPUs      int
	// Capacity of each server's hypervisor. Default room for twice its own
	// VMs, so a server can carry its peer's.
	Capacity hypervisor.Capacity
	// PollInterval is both the rack manager's full poll and the time one
	// Step advances the clock. Default 1 s.
	PollInterval time.Duration
	// FastPollInterval is the rack manager's fast poll of chassis power
	// and health (rack.LocalConfig.FastInterval); negative turns it off.
	// Default 250 ms.
	FastPollInterval time.Duration
	// Seed orders operations that complete at the same simulated moment.
	// Default 1.
	Seed uint64
	// WatchdogTimeout armed by each server's watchdog updater, with
	// expiry action power-down. Default 10 s.
	WatchdogTimeout time.Duration
	// Latency is how much simulated time each operation takes.
	Latency Latency
	// Policy of every monitor. Default failover.DefaultPolicy() with
	// EvacuationTimeout 30 s and RetryInterval 2 s.
	Policy failover.Policy
	// Start is the simulated time at the beginning. Default
	// 2026-01-01T00:00:00Z.
	Start time.Time
	// OnEvent, when set, sees every event as it happens, after the rack
	// has recorded it.
	OnEvent func(failover.Event)
	// LeaseTTL, when positive, gives the rack a lease store (lease.go):
	// each host holds a lease of this TTL, kicks its watchdog only while
	// it is alive, and monitors may take a server over by lease. Default
	// 0: no lease store.
	LeaseTTL time.Duration
	// ClockDrift is how far each host's clock rate may be off real time,
	// as a fraction (each host draws its own rate), when LeaseTTL is set.
	// Default 0.02 (2%): far beyond quartz, inside the default margin.
	ClockDrift float64
}

// Latency is the simulated duration of operations. Each operation takes
// effect when it completes; many run at once, and those completing at
// the same moment do so in an order drawn from Config.Seed.
type Latency struct {
	// Power: a power operation that changes the state, with its
	// read-back. Default 3 s.
	Power time.Duration
	// PowerNoop: a power operation on a server already in that state (a
	// fence of a server that lost power): one exchange. Default 200 ms.
	PowerNoop time.Duration
	// Checkpoint: saving a VM's memory and stopping it. Default 2 s.
	Checkpoint time.Duration
	// Start: starting or resuming a VM. Default 1 s.
	Start time.Duration
	// Store: one image store call (inventory, claim, scan). Default 20 ms.
	Store time.Duration
	// Query: asking a hypervisor for a VM's state. Default 20 ms.
	Query time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	p := failover.DefaultPolicy()
	p.EvacuationTimeout = 30 * time.Second
	p.RetryInterval = 2 * time.Second
	return Config{
		Servers:          2,
		VMsPerServer:     3,
		VMMemoryMiB:      2048,
		VMCPUs:           2,
		Capacity:         hypervisor.Capacity{MemoryMiB: 2 * 3 * 2048, CPUs: 2 * 3 * 2},
		PollInterval:     time.Second,
		FastPollInterval: 250 * time.Millisecond,
		Seed:             1,
		WatchdogTimeout:  10 * time.Second,
		Latency: Latency{Power: 3 * time.Second, PowerNoop: 200 * time.Millisecond, Checkpoint: 2 * time.Second,
			Start: time.Second, Store: 20 * time.Millisecond, Query: 20 * time.Millisecond},
		Policy:     p,
		Start:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		ClockDrift: 0.02,
	}
}

// Validate names the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.Servers < 2:
		return fmt.Errorf("%w: failovertest.Config.Servers %d must be at least 2", failover.ErrInvalidConfig, c.Servers)
	case c.VMsPerServer < 0:
		return fmt.Errorf("%w: failovertest.Config.VMsPerServer %d is negative", failover.ErrInvalidConfig, c.VMsPerServer)
	case c.PollInterval <= 0:
		return fmt.Errorf("%w: failovertest.Config.PollInterval %v must be positive", failover.ErrInvalidConfig, c.PollInterval)
	case c.Latency.Power < 0 || c.Latency.PowerNoop < 0 || c.Latency.Checkpoint < 0 || c.Latency.Start < 0 ||
		c.Latency.Store < 0 || c.Latency.Query < 0:
		return fmt.Errorf("%w: failovertest.Config.Latency %+v must not be negative", failover.ErrInvalidConfig, c.Latency)
	case c.LeaseTTL < 0:
		return fmt.Errorf("%w: failovertest.Config.LeaseTTL %v is negative", failover.ErrInvalidConfig, c.LeaseTTL)
	case c.LeaseTTL > 0 && c.LeaseTTL < 2*c.PollInterval:
		return fmt.Errorf("%w: failovertest.Config.LeaseTTL %v must be at least two PollIntervals (%v): hosts renew at each poll", failover.ErrInvalidConfig, c.LeaseTTL, c.PollInterval)
	case c.ClockDrift < 0 || c.ClockDrift >= 0.5 || c.ClockDrift != c.ClockDrift:
		return fmt.Errorf("%w: failovertest.Config.ClockDrift %v must be in [0, 0.5)", failover.ErrInvalidConfig, c.ClockDrift)
	case c.WatchdogTimeout <= c.PollInterval:
		return fmt.Errorf("%w: failovertest.Config.WatchdogTimeout %v must exceed PollInterval %v", failover.ErrInvalidConfig, c.WatchdogTimeout, c.PollInterval)
	}
	return c.Policy.Validate()
}
