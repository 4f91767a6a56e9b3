package demosim

import (
	"context"
	"fmt"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// BMC reaches one served simbmc.BMC over its network interface: every
// method fails with an error wrapping bmc.ErrUnreachable while the
// simulator is unreachable (simbmc.BMC.SetUnreachable) or the serving
// process is gone. Create it with NewBMC.
type BMC struct {
	name string
	c    *client
}

var (
	_ bmc.BMC           = (*BMC)(nil)
	_ watchdog.Disarmer = (*BMC)(nil)
)

// NewBMC returns a client of server's BMC served on socketPath. It does
// not connect: the first call does.
func NewBMC(socketPath, server string) (*BMC, error) {
	c, err := newClient(socketPath, "bmc", "BMC", server)
	if err != nil {
		return nil, err
	}
	return &BMC{name: server, c: c}, nil
}

// Close ends this client: later calls fail with an error wrapping
// bmc.ErrUnreachable. The served BMC is not affected.
func (b *BMC) Close() error {
	b.c.close()
	return nil
}

// read makes a call that changes nothing: an answer lost is unreachable.
func (b *BMC) read(ctx context.Context, op string, req, res any) error {
	st, err := b.c.call(ctx, op, req, res)
	return bmcError(b.c.what, op, st, err, false)
}

// bmcError classifies a failed call. For power (or any call that changes
// the BMC), an answer lost after the request may have arrived is
// indeterminate; for a read it is unreachable.
func bmcError(what, op string, st stage, err error, changes bool) error {
	if err == nil {
		return nil
	}
	switch {
	case st == answered:
		return fmt.Errorf("demosim %s: %s: %w", what, op, err)
	case st == notSent:
		return fmt.Errorf("demosim %s: %s: %w: %w", what, op, bmc.ErrUnreachable, err)
	case changes:
		return fmt.Errorf("demosim %s: %s: %w: answer lost, the request may have been carried out: %w", what, op, bmc.ErrIndeterminate, err)
	case st == garbled:
		return fmt.Errorf("demosim %s: %s: %w: %w", what, op, bmc.ErrMalformed, err)
	}
	return fmt.Errorf("demosim %s: %s: %w: %w", what, op, bmc.ErrUnreachable, err)
}

// malformed is the error of an answer whose values are out of range.
func malformed(what, op, detail string) error {
	return fmt.Errorf("demosim %s: %s: %w: %s", what, op, bmc.ErrMalformed, detail)
}

// Readings returns the BMC's sensors. Readings that do not Validate are
// refused with an error wrapping bmc.ErrMalformed.
func (b *BMC) Readings(ctx context.Context) ([]sensor.Reading, error) {
	var rs []sensor.Reading
	if err := b.read(ctx, "readings", emptyRequest{}, &rs); err != nil {
		return nil, err
	}
	for i, r := range rs {
		if err := r.Validate(); err != nil {
			return nil, malformed(b.c.what, "readings", fmt.Sprintf("reading %d: %v", i, err))
		}
	}
	return rs, nil
}

// Health returns the blade's health and the events logged since the
// previous Health call on the served BMC (by any client).
func (b *BMC) Health(ctx context.Context) (bmc.Health, error) {
	var h bmc.Health
	if err := b.read(ctx, "health", emptyRequest{}, &h); err != nil {
		return bmc.Health{}, err
	}
	if h.Power > bmc.PowerOff {
		return bmc.Health{}, malformed(b.c.what, "health", fmt.Sprintf("power state %d", h.Power))
	}
	return h, nil
}

// SetPower carries out action and confirms it by reading back (simbmc
// does). A call whose answer is lost wraps bmc.ErrIndeterminate; one that
// surely never reached the server wraps bmc.ErrUnreachable.
func (b *BMC) SetPower(ctx context.Context, action bmc.PowerAction) error {
	st, err := b.c.call(ctx, "set-power", setPowerRequest{Action: action}, &emptyRequest{})
	return bmcError(b.c.what, "set power "+action.String(), st, err, true)
}

// PowerState returns the server's power as the BMC reports it.
func (b *BMC) PowerState(ctx context.Context) (bmc.PowerState, error) {
	var p bmc.PowerState
	if err := b.read(ctx, "power-state", emptyRequest{}, &p); err != nil {
		return bmc.PowerUnknown, err
	}
	if p > bmc.PowerOff {
		return bmc.PowerUnknown, malformed(b.c.what, "power state", fmt.Sprintf("power state %d", p))
	}
	return p, nil
}

// Arm arms the watchdog over the BMC's network interface.
func (b *BMC) Arm(ctx context.Context, timeout time.Duration, action watchdog.Action) error {
	return armCall(ctx, b.c, timeout, action)
}

// Kick restarts the watchdog's countdown over the network interface.
func (b *BMC) Kick(ctx context.Context) error { return kickCall(ctx, b.c) }

// State reads the watchdog back over the network interface.
func (b *BMC) State(ctx context.Context) (watchdog.State, error) { return stateCall(ctx, b.c) }

// Disarm stops the watchdog; Kick then wraps watchdog.ErrNotArmed until
// the next Arm.
func (b *BMC) Disarm(ctx context.Context) error {
	st, err := b.c.call(ctx, "disarm", emptyRequest{}, &emptyRequest{})
	return bmcError(b.c.what, "disarm watchdog", st, err, false)
}

// Watchdog calls shared by BMC and InBand. A watchdog call lost in flight
// is unreachable, not indeterminate: the updater simply kicks again.

func armCall(ctx context.Context, c *client, timeout time.Duration, action watchdog.Action) error {
	st, err := c.call(ctx, "arm", armRequest{Timeout: timeout, Action: action}, &emptyRequest{})
	return bmcError(c.what, "arm watchdog", st, err, false)
}

func kickCall(ctx context.Context, c *client) error {
	st, err := c.call(ctx, "kick", emptyRequest{}, &emptyRequest{})
	return bmcError(c.what, "kick watchdog", st, err, false)
}

func stateCall(ctx context.Context, c *client) (watchdog.State, error) {
	var s watchdog.State
	st, err := c.call(ctx, "watchdog-state", emptyRequest{}, &s)
	if err := bmcError(c.what, "watchdog state", st, err, false); err != nil {
		return watchdog.State{}, err
	}
	if s.Action > watchdog.ActionPowerCycle || s.Timeout < 0 || s.Remaining < 0 {
		return watchdog.State{}, malformed(c.what, "watchdog state", fmt.Sprintf("%+v", s))
	}
	return s, nil
}

// InBand reaches one served BMC's watchdog as the server itself does,
// over its system interface (simbmc.BMC.InBand): it keeps working while
// the BMC is unreachable from the network, and fails with an error
// wrapping bmc.ErrUnreachable only once the serving process is gone or
// the simulator is closed. It has no Disarm, as simbmc's in-band
// watchdog has none. Create it with NewInBand.
type InBand struct {
	c *client
}

var _ watchdog.Watchdog = (*InBand)(nil)

// NewInBand returns an in-band watchdog client of server's BMC served on
// socketPath: give it to watchdog.NewUpdater on the server's own monitor.
func NewInBand(socketPath, server string) (*InBand, error) {
	c, err := newClient(socketPath, "inband", "in-band watchdog of", server)
	if err != nil {
		return nil, err
	}
	return &InBand{c: c}, nil
}

// Close ends this client; the served BMC is not affected.
func (w *InBand) Close() error {
	w.c.close()
	return nil
}

// Arm arms the watchdog in-band.
func (w *InBand) Arm(ctx context.Context, timeout time.Duration, action watchdog.Action) error {
	return armCall(ctx, w.c, timeout, action)
}

// Kick restarts the countdown in-band.
func (w *InBand) Kick(ctx context.Context) error { return kickCall(ctx, w.c) }

// State reads the watchdog back in-band.
func (w *InBand) State(ctx context.Context) (watchdog.State, error) { return stateCall(ctx, w.c) }
