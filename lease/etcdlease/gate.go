package etcdlease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rackha/failover/watchdog"
)

// ErrCannotDisarm: the gated watchdog does not implement
// watchdog.Disarmer, so Disarm declares nothing and leaves it armed.
var ErrCannotDisarm = errors.New("failover: watchdog cannot be disarmed")

// gated is a watchdog kicked only while a Keeper's lease is alive.
type gated struct {
	w watchdog.Watchdog
	k *Keeper
}

var (
	_ watchdog.Watchdog = gated{}
	_ watchdog.Disarmer = gated{}
)

// GateWatchdog returns w gated by k's lease, for the host's
// watchdog.Updater: Kick refuses (ErrNotAlive, not kicking) unless
// k.Alive(), and passes a context ending when the lease does; Arm first
// declares the watchdog "armed", then arms; Disarm first declares it
// "disarmed", and if that write fails returns the error and leaves the
// watchdog armed. State passes through. Safe for concurrent use as w is.
func GateWatchdog(w watchdog.Watchdog, k *Keeper) watchdog.Watchdog {
	return gated{w: w, k: k}
}

func (g gated) Kick(ctx context.Context) error {
	left, ok, why := g.k.deadline()
	if !ok {
		return fmt.Errorf("etcdlease: watchdog not kicked: %w: %s", ErrNotAlive, why)
	}
	// A kick must not reach the BMC after the lease ends by this clock.
	c, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	return g.w.Kick(c)
}

func (g gated) Arm(ctx context.Context, timeout time.Duration, action watchdog.Action) error {
	if g.k == nil {
		return fmt.Errorf("etcdlease: watchdog not armed: %w: no keeper", ErrNotAlive)
	}
	if err := g.k.DeclareWatchdog(ctx, true); err != nil {
		return fmt.Errorf("etcdlease: watchdog not armed: %w", err)
	}
	return g.w.Arm(ctx, timeout, action)
}

func (g gated) State(ctx context.Context) (watchdog.State, error) { return g.w.State(ctx) }

func (g gated) Disarm(ctx context.Context) error {
	d, ok := g.w.(watchdog.Disarmer)
	if !ok {
		return fmt.Errorf("etcdlease: watchdog left armed: %w", ErrCannotDisarm)
	}
	if g.k == nil {
		return fmt.Errorf("etcdlease: watchdog left armed: no keeper to declare it disarmed")
	}
	if err := g.k.DeclareWatchdog(ctx, false); err != nil {
		return fmt.Errorf("etcdlease: watchdog left armed (the declaration was not written): %w", err)
	}
	return d.Disarm(ctx)
}
