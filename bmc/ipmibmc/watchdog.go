package ipmibmc

import (
	"context"
	"fmt"
	"time"

	"github.com/rackha/failover/watchdog"
)

// Arm sets the SMS/OS watchdog timer to timeout (rounded up to IPMI's
// 100 ms unit, at most 6553.5 s) with action, clears the expiration flags
// and starts the countdown.
func (b *BMC) Arm(ctx context.Context, timeout time.Duration, action watchdog.Action) error {
	if timeout <= 0 || timeout > wdMaxCountdown*100*time.Millisecond {
		return fmt.Errorf("ipmibmc %s: %w: %v outside (0, 6553.5s]", b.cfg.target(), watchdog.ErrInvalidTimeout, timeout)
	}
	if action > watchdog.ActionPowerCycle {
		return fmt.Errorf("ipmibmc %s: %w: action %v unknown", b.cfg.target(), watchdog.ErrInvalidTimeout, action)
	}
	units := uint16((timeout + 100*time.Millisecond - 1) / (100 * time.Millisecond))
	if _, err := b.s.raw(ctx, "Set Watchdog Timer", netFnApp, cmdSetWatchdog, encodeSetWatchdog(action, units, wdClearAll, b.cfg.WatchdogPretimeout), true); err != nil {
		return b.wdErr("arm", err)
	}
	if _, err := b.s.raw(ctx, "Reset Watchdog Timer", netFnApp, cmdResetWatchdog, nil, true); err != nil {
		return b.wdErr("arm", err)
	}
	b.wdMu.Lock()
	b.wdStarted, b.wdTimeout, b.wdRunning = time.Now(), time.Duration(units)*100*time.Millisecond, action != watchdog.ActionNone
	b.wdMu.Unlock()
	return nil
}

// Kick restarts the countdown (Reset Watchdog Timer). A BMC whose timer
// was never set answers 0x80, reported as watchdog.ErrNotArmed.
func (b *BMC) Kick(ctx context.Context) error {
	if _, err := b.s.raw(ctx, "Reset Watchdog Timer", netFnApp, cmdResetWatchdog, nil, true); err != nil {
		return b.wdErr("kick", err)
	}
	b.wdMu.Lock()
	if b.wdTimeout > 0 {
		b.wdStarted, b.wdRunning = time.Now(), true
	}
	b.wdMu.Unlock()
	return nil
}

// Disarm stops the timer: Set Watchdog Timer with action none and the
// "don't stop" bit clear. Expiration flags are left as they are.
func (b *BMC) Disarm(ctx context.Context) error {
	d, err := b.s.raw(ctx, "Get Watchdog Timer", netFnApp, cmdGetWatchdog, nil, true)
	if err != nil {
		return b.wdErr("disarm", err)
	}
	w, err := decodeWatchdog(d)
	if err != nil {
		return fmt.Errorf("ipmibmc %s: disarm: %w", b.cfg.target(), err)
	}
	units := uint16(w.initial / (100 * time.Millisecond))
	if units == 0 {
		units = 1
	}
	if _, err := b.s.raw(ctx, "Set Watchdog Timer", netFnApp, cmdSetWatchdog, encodeSetWatchdog(watchdog.ActionNone, units, 0, false), true); err != nil {
		return b.wdErr("disarm", err)
	}
	b.wdMu.Lock()
	b.wdRunning = false
	b.wdMu.Unlock()
	return nil
}

// State reads the timer (Get Watchdog Timer, tolerating 6-byte answers).
// Expired comes from the expiration flag of the timer's use. When the BMC
// reports the present countdown (8-byte answer), Running and Remaining are
// the BMC's; when it does not (ipmi_sim), they are estimated from this
// adapter's own last Arm or Kick, and are false and 0 if this adapter has
// not armed the timer.
func (b *BMC) State(ctx context.Context) (watchdog.State, error) {
	d, err := b.s.raw(ctx, "Get Watchdog Timer", netFnApp, cmdGetWatchdog, nil, true)
	if err != nil {
		return watchdog.State{}, b.wdErr("state", err)
	}
	w, err := decodeWatchdog(d)
	if err != nil {
		return watchdog.State{}, fmt.Errorf("ipmibmc %s: watchdog state: %w", b.cfg.target(), err)
	}
	st := watchdog.State{Expired: w.expired(), Timeout: w.initial, Action: w.action}
	switch {
	case w.hasPresent:
		st.Running = w.running
		st.Remaining = w.present
	case st.Expired:
	default:
		b.wdMu.Lock()
		if b.wdRunning && w.action != watchdog.ActionNone {
			st.Running = true
			st.Remaining = max(0, b.wdTimeout-time.Since(b.wdStarted))
		}
		b.wdMu.Unlock()
	}
	if st.Expired {
		b.wdMu.Lock()
		b.wdRunning = false
		b.wdMu.Unlock()
	}
	return st, nil
}

func (b *BMC) wdErr(op string, err error) error {
	if cc, ok := ccOf(err); ok && cc == 0x80 {
		return fmt.Errorf("ipmibmc %s: watchdog %s: %w: %w", b.cfg.target(), op, watchdog.ErrNotArmed, err)
	}
	if _, ok := ccOf(err); ok {
		return fmt.Errorf("ipmibmc %s: watchdog %s: %w", b.cfg.target(), op, err)
	}
	return fmt.Errorf("watchdog %s: %w", op, err)
}
