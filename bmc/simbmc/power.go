package simbmc

import (
	"context"
	"fmt"
	"time"

	"github.com/rackha/failover/bmc"
)

// SetPower carries out action and returns nil once the simulated state
// agrees (off for off; on for on and cycle). Off when off and on when on
// are success. With main power lost, on and cycle fail with an error
// wrapping bmc.ErrIndeterminate (the read-back disagrees). An unknown
// action wraps bmc.ErrUnsupported. Scripted failures: FailPower,
// FailPowerApplied.
func (b *BMC) SetPower(ctx context.Context, action bmc.PowerAction) error {
	if action < bmc.PowerActionOff || action > bmc.PowerActionCycle {
		return fmt.Errorf("simbmc %s: set power: %w: action %v", b.name, bmc.ErrUnsupported, action)
	}
	now, err := b.enter(ctx, "set power "+action.String())
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	b.stalePower = bmc.PowerUnknown // a command makes the BMC look again
	if b.failPower != nil {
		return fmt.Errorf("simbmc %s: set power %v: %w", b.name, action, b.failPower)
	}
	switch action {
	case bmc.PowerActionOff:
		b.setPowerLocked(now, bmc.PowerOff)
	case bmc.PowerActionOn:
		b.setPowerLocked(now, bmc.PowerOn)
	case bmc.PowerActionCycle:
		b.setPowerLocked(now, bmc.PowerOff)
		b.setPowerLocked(now, bmc.PowerOn)
	}
	if b.loseAnswer != nil {
		return fmt.Errorf("simbmc %s: set power %v: %w", b.name, action, b.loseAnswer)
	}
	want := bmc.PowerOn
	if action == bmc.PowerActionOff {
		want = bmc.PowerOff
	}
	if b.power != want {
		return fmt.Errorf("simbmc %s: set power %v: read back %v, main power lost: %w", b.name, action, b.power, bmc.ErrIndeterminate)
	}
	return nil
}

// PowerState returns the server's power as the BMC reports it (see
// ReportStalePower).
func (b *BMC) PowerState(ctx context.Context) (bmc.PowerState, error) {
	if _, err := b.enter(ctx, "power state"); err != nil {
		return bmc.PowerUnknown, err
	}
	defer b.mu.Unlock()
	return b.reportedLocked(), nil
}

// reportedLocked is the power PowerState and Health report.
func (b *BMC) reportedLocked() bmc.PowerState {
	if b.stalePower != bmc.PowerUnknown {
		return b.stalePower
	}
	return b.power
}

// setPowerLocked moves power to p (on fails silently while main power is
// lost), stops the watchdog, logs and calls OnPower.
func (b *BMC) setPowerLocked(at time.Time, p bmc.PowerState) {
	if b.power == p || (p == bmc.PowerOn && b.powerLost) {
		return
	}
	b.power = p
	// As on IPMI BMCs, the watchdog stops whenever the system powers
	// down or up; the OS starts it again after boot. (A kick that came
	// in while the server was off must not expire after power-on.)
	b.wd.stop(at)
	b.logLocked(at, "chassis", "power "+p.String(), bmc.SeverityInfo)
	if b.onPower != nil {
		b.onPower(p)
	}
}
