package simbmc

import (
	"context"
	"fmt"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/watchdog"
)

// wdState is the watchdog, counted down lazily from the clock.
type wdState struct {
	armed     bool // configured by Arm and not disarmed: Kick is allowed
	running   bool
	expired   bool
	timeout   time.Duration
	action    watchdog.Action
	deadline  time.Time     // when running: expiry time
	remaining time.Duration // when stopped: countdown left
}

func (w *wdState) stop(at time.Time) {
	if !w.running {
		return
	}
	w.running = false
	w.remaining = max(w.deadline.Sub(at), 0)
}

// wdSyncLocked applies an expiry that fell due by now, once: Expired is
// set and the action is carried out as of the moment it fell due.
func (b *BMC) wdSyncLocked(now time.Time) {
	w := &b.wd
	if !w.running || now.Before(w.deadline) {
		return
	}
	at := w.deadline
	w.running, w.expired, w.remaining = false, true, 0
	b.logLocked(at, "watchdog", fmt.Sprintf("watchdog expired after %v, action %v", w.timeout, w.action), bmc.SeverityCritical)
	switch w.action {
	case watchdog.ActionPowerDown:
		b.setPowerLocked(at, bmc.PowerOff)
	case watchdog.ActionPowerCycle, watchdog.ActionHardReset:
		// A hard reset keeps power on but loses the host's VMs just as
		// a cycle does, so both are reported as off, then on.
		if b.power == bmc.PowerOn {
			b.setPowerLocked(at, bmc.PowerOff)
			b.setPowerLocked(at, bmc.PowerOn)
		}
	}
}

// Arm sets the timeout and expiry action, clears Expired and starts the
// countdown. A timeout <= 0 wraps watchdog.ErrInvalidTimeout; an unknown
// action wraps bmc.ErrUnsupported.
func (b *BMC) Arm(ctx context.Context, timeout time.Duration, action watchdog.Action) error {
	if timeout <= 0 {
		return fmt.Errorf("simbmc %s: arm: %w: %v", b.name, watchdog.ErrInvalidTimeout, timeout)
	}
	if action > watchdog.ActionPowerCycle {
		return fmt.Errorf("simbmc %s: arm: %w: watchdog %v", b.name, bmc.ErrUnsupported, action)
	}
	now, err := b.enter(ctx, "arm watchdog")
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	b.wd = wdState{armed: true, running: true, timeout: timeout, action: action, deadline: now.Add(timeout)}
	return nil
}

// Kick restarts the countdown from the timeout. It wraps
// watchdog.ErrNotArmed if the watchdog was never armed or was disarmed.
// Like IPMI's Reset Watchdog Timer, it also restarts a timer that expired
// or was stopped by a power-off; Expired stays set until the next Arm.
func (b *BMC) Kick(ctx context.Context) error {
	now, err := b.enter(ctx, "kick watchdog")
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	if !b.wd.armed {
		return fmt.Errorf("simbmc %s: kick: %w", b.name, watchdog.ErrNotArmed)
	}
	b.wd.running, b.wd.deadline = true, now.Add(b.wd.timeout)
	return nil
}

// State reads the watchdog back.
func (b *BMC) State(ctx context.Context) (watchdog.State, error) {
	now, err := b.enter(ctx, "watchdog state")
	if err != nil {
		return watchdog.State{}, err
	}
	defer b.mu.Unlock()
	w := b.wd
	s := watchdog.State{Running: w.running, Expired: w.expired, Timeout: w.timeout, Remaining: w.remaining, Action: w.action}
	if w.running {
		s.Remaining = w.deadline.Sub(now)
	}
	return s, nil
}

// Disarm stops the countdown; Kick then wraps watchdog.ErrNotArmed until
// the next Arm. Expired is left as it was.
func (b *BMC) Disarm(ctx context.Context) error {
	now, err := b.enter(ctx, "disarm watchdog")
	if err != nil {
		return err
	}
	defer b.mu.Unlock()
	b.wd.stop(now)
	b.wd.armed = false
	return nil
}
