package simbmc

import (
	"context"
	"fmt"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/watchdog"
)

// InBand returns the watchdog as the server itself reaches it, over the
// system interface (IPMI KCS, /dev/ipmi0) rather than the network: it
// works while the BMC is unreachable from the LAN (SetUnreachable), as on
// real servers whose management network is down. Not safe to use after
// Close.
func (b *BMC) InBand() watchdog.Watchdog { return inBand{b} }

type inBand struct{ b *BMC }

func (w inBand) lock(ctx context.Context, op string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("simbmc %s: in-band %s: %w", w.b.name, op, err)
	}
	w.b.mu.Lock()
	now := w.b.clock.Now()
	w.b.syncLocked(now)
	if w.b.closed {
		w.b.mu.Unlock()
		return now, fmt.Errorf("simbmc %s: in-band %s: BMC closed: %w", w.b.name, op, bmc.ErrUnreachable)
	}
	return now, nil
}

func (w inBand) Arm(ctx context.Context, timeout time.Duration, action watchdog.Action) error {
	if timeout <= 0 {
		return fmt.Errorf("simbmc %s: in-band arm: %w: %v", w.b.name, watchdog.ErrInvalidTimeout, timeout)
	}
	if action > watchdog.ActionPowerCycle {
		return fmt.Errorf("simbmc %s: in-band arm: %w: watchdog %v", w.b.name, bmc.ErrUnsupported, action)
	}
	now, err := w.lock(ctx, "arm")
	if err != nil {
		return err
	}
	defer w.b.mu.Unlock()
	w.b.wd = wdState{armed: true, running: true, timeout: timeout, action: action, deadline: now.Add(timeout)}
	return nil
}

func (w inBand) Kick(ctx context.Context) error {
	now, err := w.lock(ctx, "kick")
	if err != nil {
		return err
	}
	defer w.b.mu.Unlock()
	if !w.b.wd.armed {
		return fmt.Errorf("simbmc %s: in-band kick: %w", w.b.name, watchdog.ErrNotArmed)
	}
	w.b.wd.running, w.b.wd.deadline = true, now.Add(w.b.wd.timeout)
	return nil
}

func (w inBand) State(ctx context.Context) (watchdog.State, error) {
	now, err := w.lock(ctx, "state")
	if err != nil {
		return watchdog.State{}, err
	}
	defer w.b.mu.Unlock()
	wd := w.b.wd
	s := watchdog.State{Running: wd.running, Expired: wd.expired, Timeout: wd.timeout, Remaining: wd.remaining, Action: wd.action}
	if wd.running {
		s.Remaining = wd.deadline.Sub(now)
	}
	return s, nil
}
