package failovertest

import (
	"fmt"
	"time"
)

// FaultKind names a fault the rack can inject.
type FaultKind string

// Faults. The first five are real failures a watcher must act on; the rest
// disturb the method and must not make it unsafe.
const (
	// PowerLoss: the server's main power is cut; mains come back after
	// Fault.For, but the server stays off until powered on.
	PowerLoss FaultKind = "power-loss"
	// BladeFault: the blade declares itself failed and its OS stops.
	BladeFault FaultKind = "blade-fault"
	// VoltageSag: the 12 V rail sags below its lower critical threshold;
	// the server keeps running (degraded).
	VoltageSag FaultKind = "voltage-sag"
	// Overheat: a CPU runs past its critical temperature; the server keeps
	// running (degraded).
	Overheat FaultKind = "overheat"
	// HangOS: the OS hangs: VMs keep running but the watchdog updater stops
	// kicking, so the watchdog expires and powers the server down.
	HangOS FaultKind = "hang-os"
	// LyingBMC: the BMC reports power off while the host runs on, for
	// Fault.For, and a power-off reaches the host only Fault.Lag after the
	// BMC confirms it (BMCs that report off early). The watcher cannot tell
	// this from a power loss, so the server is fenced: a real failure.
	LyingBMC FaultKind = "lying-bmc"

	// Unreachable: the BMC stops answering for Fault.For.
	Unreachable FaultKind = "bmc-unreachable"
	// FenceFails: power operations on this BMC are refused for Fault.For.
	FenceFails FaultKind = "fence-fails"
	// FenceIndeterminate: power operations on this BMC lose their answer
	// without being carried out, for Fault.For.
	FenceIndeterminate FaultKind = "fence-indeterminate"
	// MonitorCrash: the server's monitor dies after Fault.AfterCalls calls
	// to the store and hypervisors (or at the end of the step) and is
	// restarted at the next step, with its state lost.
	MonitorCrash FaultKind = "monitor-crash"
	// StartFails: starts on this server's hypervisor fail for Fault.For
	// (storage briefly unavailable), then work again.
	StartFails FaultKind = "start-fails"
	// Noise: a CPU temperature reads past critical for Fault.For: a
	// healthy server with a noisy sensor.
	Noise FaultKind = "noise"
	// Partition: Fault.Watcher cannot reach Server's BMC (its power
	// calls fail) nor its hypervisor for Fault.For, while the rack manager
	// still polls the BMC.
	Partition FaultKind = "partition"
	// ManagerCrash: the rack manager stops for Fault.For (no statuses, no
	// power) and restarts with no memory (journals, storm window,
	// hand-overs).
	ManagerCrash FaultKind = "manager-crash"
	// StoreSlow: every image store call takes 50 times Latency.Store for
	// Fault.For.
	StoreSlow FaultKind = "store-slow"
	// StoreDown: every image store call fails for Fault.For.
	StoreDown FaultKind = "store-down"

	// With a lease store (Config.LeaseTTL):

	// TotalPowerLoss: the server loses all power and its BMC with it; the
	// BMC answers again after Fault.For, the server staying off. Only a
	// takeover by lease restarts its VMs before then. A real failure.
	TotalPowerLoss FaultKind = "total-power-loss"
	// Isolated: the server is cut from the network for Fault.For (lease
	// store, image store, rack manager, peers; its BMC unreachable too)
	// while it keeps running its VMs, until its watchdog, no longer
	// kicked once its lease has ended, powers it down. A real failure.
	Isolated FaultKind = "isolated"
	// LeaseCut: the host cannot reach the lease store for Fault.For, long
	// enough that its watchdog powers it down; its BMC answers. A real
	// failure.
	LeaseCut FaultKind = "lease-cut"
	// LeaseBlip: the host cannot reach the lease store for Fault.For,
	// shorter than its lease: nothing may happen.
	LeaseBlip FaultKind = "lease-blip"
)

// Real reports whether the fault is a failure the server does not survive
// without help.
func (k FaultKind) Real() bool {
	switch k {
	case PowerLoss, BladeFault, VoltageSag, Overheat, HangOS, LyingBMC, TotalPowerLoss, Isolated, LeaseCut:
		return true
	}
	return false
}

// Fault is one injected fault.
type Fault struct {
	Kind   FaultKind
	Server string
	// For is how long a transient fault lasts (Unreachable, FenceFails,
	// FenceIndeterminate, Noise, and PowerLoss's mains). Default one poll.
	For time.Duration
	// AfterCalls places a MonitorCrash; 0 crashes at the end of the step.
	AfterCalls int
	// Watcher is the cut-off side of a Partition.
	Watcher string
	// Lag is how late a LyingBMC's power-off reaches the host.
	Lag time.Duration
}

func (f Fault) String() string {
	s := fmt.Sprintf("%s on %s", f.Kind, f.Server)
	if f.For > 0 {
		s += fmt.Sprintf(" for %v", f.For)
	}
	if f.Watcher != "" {
		s += " from " + f.Watcher
	}
	if f.Lag > 0 {
		s += fmt.Sprintf(" lag %v", f.Lag)
	}
	if f.AfterCalls > 0 {
		s += fmt.Sprintf(" after %d calls", f.AfterCalls)
	}
	return s
}

// injected is a fault as the rack recorded it.
type injected struct {
	Fault
	at     time.Time
	until  time.Time // end of a transient fault
	ended  time.Time // a real failure ends when the server boots again
	vms    []string  // VMs the server owned when a real failure began
	over   bool      // transient effect undone
	judged bool      // invariant (b) checked
}
