package failover

import (
	"fmt"
	"math"
	"time"

	"github.com/rackha/failover/sensor"
)

// Policy is how a watcher judges its peers and acts on a failure.
type Policy struct {
	// DebouncePolls is how many consecutive full polls a condition must
	// hold before it counts. Default 4: healthy BMCs spike for a poll or
	// two often and glitch for three now and then (a sensor re-scan, a
	// fan ramp); four is the first count such noise does not reach.
	DebouncePolls int
	// DebounceDwell is how long a condition must hold besides
	// DebouncePolls. Default 0 (polls alone decide).
	DebounceDwell time.Duration
	// MaxStatusGap: when a full status comes later than this after the
	// previous one (a rack manager restart, a lost stream), the polls
	// before the gap no longer count toward DebouncePolls: the condition
	// was not seen to hold meanwhile. Likewise for FastDwell. Default
	// 1.5 s: one and a half of the rack manager's default 1 s polls, so
	// one lost poll breaks the count (slower, never falser); set
	// it from your rack manager's interval.
	MaxStatusGap time.Duration
	// StatusTimeout: when no status of any watched server has come for
	// this long, the rack manager (or the network to it) is down: the
	// watcher alerts once and names the VMs at risk, and takes nothing
	// over until statuses come again (a fence needs the rack manager
	// anyway). Judged at each tick, so it shows up to one
	// Config.TickInterval late. Default 5 s: five of the rack manager's
	// 1 s polls, longer than a stream's reconnect.
	StatusTimeout time.Duration
	// FastDwell is how long power off or a blade fault must hold, seen by
	// fast polls (rack.Status.Fast) or full ones, before it counts; hard
	// faults are judged by time, not poll count, so a fast poll detects
	// them within about FastDwell plus one fast interval. Default 500 ms:
	// two fast polls at 250 ms confirm the first.
	FastDwell time.Duration
	// DangerLevel is the threshold level at which a voltage or temperature
	// is a failure. Default sensor.LevelCritical, the BMC's own critical
	// thresholds.
	DangerLevel sensor.Level
	// Hysteresis is how far back inside its threshold a value must come,
	// as a fraction of the threshold's magnitude, before a sensor counts
	// as normal again. Default 0.02 (2%).
	Hysteresis float64
	// Overrides replace the BMC's thresholds for sensors named here.
	// Default none.
	Overrides map[string]sensor.Thresholds
	// ZeroVolts: when every available voltage reads below this magnitude,
	// the server has no power. Default 0.5 V.
	ZeroVolts float64
	// UnreachableAlertPolls is how many consecutive unreachable polls
	// raise an alert. Default 3. Unreachable never causes a takeover.
	UnreachableAlertPolls int
	// EvacuationTimeout bounds the evacuation of a degraded server; what
	// is not checkpointed by then is fenced and cold-started (it loses its
	// memory state, not its disk). Default 2 min. Measured on real QEMU
	// guests under libvirtd (TCG, a shared 2-core machine): a save with
	// memory takes 1.8-2.3 s for guests of 128 MiB to 1 GiB and writes
	// the memory they touched (93-111 MB), about 50 MB/s; a resume takes
	// 0.6-1.6 s. At that rate 2 min saves some 6 GB of touched memory
	// per server, with time to spare for a slower disk; raise it for
	// servers holding more.
	EvacuationTimeout time.Duration
	// FenceAttempts is how many times a fence is tried before the watcher
	// gives up and alerts. Default 3.
	FenceAttempts int
	// FenceSettle is how long to wait after a power-off is read back
	// before any backup starts: some BMCs (iLO among them, which is why
	// fence_ipmilan has power_wait) report off before the host really is.
	// Default 1 s; raise it for BMCs known to report early.
	FenceSettle time.Duration
	// MaxParallelStarts bounds how many backup starts (with their claims)
	// run at once on the watcher, and how many checkpoints at once on one
	// failed server. Default 32, as vSphere HA powers on up to 32 VMs at
	// once per host: enough that a blade's VMs start together, few enough
	// that shared storage is not swamped.
	MaxParallelStarts int
	// StormFraction: while more than this fraction of the rack has failed
	// within the rack manager's storm window (rack.Status.RackFailed of
	// RackSize), new takeovers are held and one alert names the VMs held;
	// a PDU or switch failure must not set off a storm of fences. Default
	// 0.5, as Kubernetes' Node Health Check stops remediating below 51%
	// healthy. 1 turns the guard off.
	StormFraction float64
	// StartAttempts is how many times a backup start is tried before the
	// VM is given up on and alerted. Bad images, lost claims and missing
	// capacity are not retried. Default 3.
	StartAttempts int
	// RetryInterval is the wait before retrying a failed fence, backup
	// start or image store read. Default 5 s.
	RetryInterval time.Duration
	// RecoveryTimeout is how long a restarted server has to report healthy
	// before an alert says it did not come back. Default 10 min.
	RecoveryTimeout time.Duration
	// Evacuate degraded servers (voltage or temperature at danger, still
	// powered and answering) before fencing them. Default true.
	Evacuate bool
	// LeaseDriftMargin is the margin a takeover by lease adds for clocks
	// that run at different rates and for late kicks (see lease.go):
	// the wait after a lease expired is its TTL + the watchdog's timeout
	// + this. Default 5 s: over 10% of the default 10 s TTL + 30 s
	// watchdog, where quartz clocks drift by 0.01%; the rest covers a
	// kick delayed by a busy host. Only used when the runner reports
	// leases (InputLease).
	LeaseDriftMargin time.Duration

	// Predictive evacuation (see predict.go and docs/predict.md): a
	// server whose voltage or temperature is on course to reach its
	// danger threshold within PredictLead, or that logs correctable
	// memory errors too fast, is evacuated like a degraded one while it
	// still works. A prediction never fences: when evacuation is not
	// possible, it only alerts.

	// Predict turns predictive evacuation on. Default true.
	Predict bool
	// PredictWindow is how many full statuses per sensor the trend is
	// estimated over, in 8 blocks of PredictWindow/8. Default 64: about a
	// minute at the rack manager's 1 s polls, long enough that a block's
	// median rejects a glitch of three polls, short enough to follow a
	// fan failure. A multiple of 8 in [16, 4096].
	PredictWindow int
	// PredictLead: a sensor is on course when its predicted time to the
	// danger threshold is below this. Default 5 min: the evacuation
	// bound (EvacuationTimeout, 2 min) twice over, plus the dwell.
	PredictLead time.Duration
	// PredictMinRate is the least rate toward the threshold that counts,
	// as a fraction of the threshold's magnitude per minute. Default
	// 0.01 (about 1 °C/min at 95 °C, 0.1 V/min at 10.8 V): slower
	// drifts are left to threshold detection and to people.
	PredictMinRate float64
	// PredictDwell is how long a prediction must hold, judged at each
	// closed block, before it evacuates. Default 48 s: six blocks at the
	// default window, longer than the up to 32 s a rise that levels off
	// below the threshold (a load swing) can look straight.
	PredictDwell time.Duration
	// PredictReversal: a sensor seen moving away from a threshold (at
	// PredictMinRate or faster) within this long is swinging, not
	// failing, and is not predicted to cross that threshold. Default
	// 10 min: longer than a load cycle or a regulator's hunting; a
	// failure that starts right after a swing is then left to threshold
	// detection (a later evacuation, never a false one).
	PredictReversal time.Duration
	// PredictSensors overrides PredictLead and PredictMinRate for the
	// sensors named, or turns prediction off for them. Default none.
	PredictSensors map[string]PredictRule
	// PredictECCLimit: more than this many correctable memory errors
	// logged by the BMC within PredictECCWindow evacuate the server.
	// Default 20, 0 turns the check off. Correctable errors are
	// harmless alone; a burst of them precedes uncorrectable ones.
	PredictECCLimit int
	// PredictECCWindow is the window PredictECCLimit counts over.
	// Default 10 min.
	PredictECCWindow time.Duration
}

// PredictRule overrides the prediction policy for one sensor. Zero
// fields keep the Policy's.
type PredictRule struct {
	Off     bool          // no prediction for this sensor
	Lead    time.Duration // replaces Policy.PredictLead
	MinRate float64       // replaces Policy.PredictMinRate
}

// DefaultPolicy returns the defaults documented on Policy.
func DefaultPolicy() Policy {
	return Policy{
		DebouncePolls:         4,
		MaxStatusGap:          1500 * time.Millisecond,
		StatusTimeout:         5 * time.Second,
		FastDwell:             500 * time.Millisecond,
		FenceSettle:           time.Second,
		MaxParallelStarts:     32,
		StormFraction:         0.5,
		DangerLevel:           sensor.LevelCritical,
		Hysteresis:            0.02,
		ZeroVolts:             0.5,
		UnreachableAlertPolls: 3,
		EvacuationTimeout:     2 * time.Minute,
		FenceAttempts:         3,
		StartAttempts:         3,
		RetryInterval:         5 * time.Second,
		RecoveryTimeout:       10 * time.Minute,
		Evacuate:              true,
		LeaseDriftMargin:      5 * time.Second,

		Predict:          true,
		PredictWindow:    64,
		PredictLead:      5 * time.Minute,
		PredictMinRate:   0.01,
		PredictDwell:     48 * time.Second,
		PredictReversal:  10 * time.Minute,
		PredictECCLimit:  20,
		PredictECCWindow: 10 * time.Minute,
	}
}

// Validate names the first field that is out of range.
func (p Policy) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: Policy.%s %v: %s", ErrInvalidPolicy, field, v, want)
	}
	switch {
	case p.DebouncePolls < 1:
		return bad("DebouncePolls", p.DebouncePolls, "must be at least 1")
	case p.DebounceDwell < 0:
		return bad("DebounceDwell", p.DebounceDwell, "must not be negative")
	case p.MaxStatusGap <= 0:
		return bad("MaxStatusGap", p.MaxStatusGap, "must be positive")
	case p.StatusTimeout <= 0:
		return bad("StatusTimeout", p.StatusTimeout, "must be positive")
	case p.FastDwell < 0:
		return bad("FastDwell", p.FastDwell, "must not be negative")
	case p.FenceSettle < 0:
		return bad("FenceSettle", p.FenceSettle, "must not be negative")
	case p.MaxParallelStarts < 1:
		return bad("MaxParallelStarts", p.MaxParallelStarts, "must be at least 1")
	case math.IsNaN(p.StormFraction) || p.StormFraction <= 0 || p.StormFraction > 1:
		return bad("StormFraction", p.StormFraction, "must be in (0, 1]")
	case p.DangerLevel < sensor.LevelCaution || p.DangerLevel > sensor.LevelFatal:
		return bad("DangerLevel", p.DangerLevel, "must be caution, critical or fatal")
	case math.IsNaN(p.Hysteresis) || p.Hysteresis < 0 || p.Hysteresis >= 1:
		return bad("Hysteresis", p.Hysteresis, "must be in [0, 1)")
	case math.IsNaN(p.ZeroVolts) || p.ZeroVolts < 0:
		return bad("ZeroVolts", p.ZeroVolts, "must not be negative")
	case p.UnreachableAlertPolls < 1:
		return bad("UnreachableAlertPolls", p.UnreachableAlertPolls, "must be at least 1")
	case p.EvacuationTimeout <= 0:
		return bad("EvacuationTimeout", p.EvacuationTimeout, "must be positive")
	case p.FenceAttempts < 1:
		return bad("FenceAttempts", p.FenceAttempts, "must be at least 1")
	case p.StartAttempts < 1:
		return bad("StartAttempts", p.StartAttempts, "must be at least 1")
	case p.RetryInterval <= 0:
		return bad("RetryInterval", p.RetryInterval, "must be positive")
	case p.RecoveryTimeout <= 0:
		return bad("RecoveryTimeout", p.RecoveryTimeout, "must be positive")
	case p.LeaseDriftMargin < 0:
		return bad("LeaseDriftMargin", p.LeaseDriftMargin, "must not be negative")
	}
	if err := p.validatePredict(bad); err != nil {
		return err
	}
	for name, t := range p.Overrides {
		if err := (sensor.Reading{Name: name, Thresholds: t, Status: sensor.StatusUnavailable}).Validate(); err != nil {
			return fmt.Errorf("%w: Policy.Overrides[%q]: %v", ErrInvalidPolicy, name, err)
		}
	}
	return nil
}
