package simbmc

import (
	"fmt"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

// SetValue makes sensor name read v (and available) from now on. It
// refuses an unknown name, and a value its kind cannot take, with an error
// wrapping sensor.ErrInvalidReading. Crossing a threshold logs an event.
func (b *BMC) SetValue(name string, v float64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.syncLocked(now)
	i, ok := b.index[name]
	if !ok {
		return fmt.Errorf("simbmc %s: SetValue: %w: no sensor %q", b.name, sensor.ErrInvalidReading, name)
	}
	r := b.readings[i]
	before := r.Thresholds.Level(r.Value)
	if r.Status != sensor.StatusOK {
		before = sensor.LevelNormal
	}
	r.Value, r.Status = v, sensor.StatusOK
	if err := r.Validate(); err != nil {
		return fmt.Errorf("simbmc %s: SetValue: %w", b.name, err)
	}
	b.readings[i] = r
	if after := r.Thresholds.Level(v); after != before {
		sev := bmc.SeverityInfo
		switch after {
		case sensor.LevelCaution:
			sev = bmc.SeverityWarning
		case sensor.LevelCritical, sensor.LevelFatal:
			sev = bmc.SeverityCritical
		}
		b.logLocked(now, name, fmt.Sprintf("%s %v %s: %s (was %s)", name, v, r.Unit, after, before), sev)
	}
	return nil
}

// SetUnavailable marks sensor name as giving no value (Value 0) until the
// next SetValue.
func (b *BMC) SetUnavailable(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, ok := b.index[name]
	if !ok {
		return fmt.Errorf("simbmc %s: SetUnavailable: %w: no sensor %q", b.name, sensor.ErrInvalidReading, name)
	}
	b.readings[i].Status, b.readings[i].Value = sensor.StatusUnavailable, 0
	return nil
}

// SetUnreachable makes every call fail with an error wrapping
// bmc.ErrUnreachable (true) or answer again (false). The server itself is
// unaffected: its watchdog keeps counting down.
func (b *BMC) SetUnreachable(unreachable bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.syncLocked(b.clock.Now())
	b.unreachable = unreachable
}

// LosePower cuts the server's main power: power reads off, voltages read
// 0, Health reports MainPowerFault, the watchdog stops, OnPower(PowerOff) is
// called if the server was on, and power-on fails until RestorePower.
func (b *BMC) LosePower() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.syncLocked(now)
	b.powerLost = true
	b.logLocked(now, "power supply", "main power lost", bmc.SeverityCritical)
	b.setPowerLocked(now, bmc.PowerOff)
}

// RestorePower gives the server its main power back. The server stays off
// until powered on (SetPower on or cycle).
func (b *BMC) RestorePower() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.syncLocked(now)
	if b.powerLost {
		b.powerLost = false
		b.logLocked(now, "power supply", "main power restored", bmc.SeverityInfo)
	}
}

// SetFault makes Health declare the blade failed (true, with detail as
// the reason) or healthy again (false).
func (b *BMC) SetFault(fault bool, detail string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.syncLocked(now)
	b.fault = fault
	if fault {
		b.detail = detail
		b.logLocked(now, "blade", "fault: "+detail, bmc.SeverityCritical)
	} else {
		b.detail = ""
	}
}

// FailPower makes the following SetPower calls fail with err without
// carrying out the action; FailPower(nil) ends this and FailPowerApplied.
// Wrap bmc.ErrIndeterminate in err to script an indeterminate fence that
// did not happen, or pass a plain error for a refused request.
func (b *BMC) FailPower(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failPower, b.loseAnswer = err, nil
}

// FailPowerApplied makes the following SetPower calls carry out the action
// and then fail with err, as when the answer is lost (wrap
// bmc.ErrIndeterminate). FailPower(nil) ends it.
func (b *BMC) FailPowerApplied(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failPower, b.loseAnswer = nil, err
}

// ReportStalePower makes PowerState and Health report p, whatever the
// server's real power, until the next SetPower call (a BMC with a stale
// or wrong state). PowerUnknown ends it. HostPower tells the truth.
func (b *BMC) ReportStalePower(p bmc.PowerState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stalePower = p
}

// HostPower returns the server's real power, whatever the BMC reports
// (ReportStalePower) and even while it is unreachable or closed.
func (b *BMC) HostPower() bmc.PowerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.syncLocked(b.clock.Now())
	return b.power
}
