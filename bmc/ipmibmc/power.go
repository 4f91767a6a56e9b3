package ipmibmc

import (
	"context"
	"fmt"
	"time"

	"github.com/rackha/failover/bmc"
)

// Chassis Control request values.
const (
	ctlPowerDown  = 0x00
	ctlPowerUp    = 0x01
	ctlPowerCycle = 0x02
)

// PowerState reads the chassis power state.
func (b *BMC) PowerState(ctx context.Context) (bmc.PowerState, error) {
	c, err := b.chassis(ctx)
	if err != nil {
		return bmc.PowerUnknown, err
	}
	if c.on {
		return bmc.PowerOn, nil
	}
	return bmc.PowerOff, nil
}

func (b *BMC) chassis(ctx context.Context) (chassis, error) {
	d, err := b.s.raw(ctx, "Get Chassis Status", netFnChassis, cmdChassisStatus, nil, true)
	if err != nil {
		return chassis{}, err
	}
	c, err := decodeChassis(d)
	if err != nil {
		return chassis{}, fmt.Errorf("ipmibmc %s: %w", b.cfg.target(), err)
	}
	return c, nil
}

// SetPower carries out action and returns nil once the chassis status
// reads back Off (for off) or On (for on and cycle). Power-off is always
// sent, even when the state already reads off: a stale or wrong reading
// must not turn a fence into a no-op, so the BMC is told and then read
// back; a refusal because the chassis is already off (completion code
// 0xd5) is success once the read-back says off. Power-on of a server that
// reads on is left alone (cycle of a server that is off powers it on). If
// the Chassis Control request was sent but its answer was lost, or the
// state does not follow before ctx ends, the error wraps
// bmc.ErrIndeterminate. A cycle on a BMC that keeps reading "on" while it
// cycles is confirmed by the final "on" alone.
func (b *BMC) SetPower(ctx context.Context, action bmc.PowerAction) error {
	var want bmc.PowerState
	switch action {
	case bmc.PowerActionOff:
		want = bmc.PowerOff
	case bmc.PowerActionOn, bmc.PowerActionCycle:
		want = bmc.PowerOn
	default:
		return fmt.Errorf("ipmibmc %s: power %v: %w", b.cfg.target(), action, bmc.ErrUnsupported)
	}
	b.powerMu.Lock()
	defer b.powerMu.Unlock()
	// The read before opens the session and tells an unreachable BMC
	// (nothing sent) from a lost answer (perhaps carried out).
	now, err := b.PowerState(ctx)
	if err != nil {
		return fmt.Errorf("power %v: read state before: %w", action, err)
	}
	var ctl byte
	switch {
	case action == bmc.PowerActionOff:
		ctl = ctlPowerDown // whatever the state reads
	case action == bmc.PowerActionOn && now == bmc.PowerOn:
		return nil
	case action == bmc.PowerActionOn, now == bmc.PowerOff:
		ctl = ctlPowerUp
	default:
		ctl = ctlPowerCycle
	}
	_, err = b.s.raw(ctx, "Chassis Control", netFnChassis, cmdChassisControl, []byte{ctl}, false)
	if cc, refused := ccOf(err); refused && !(action == bmc.PowerActionOff && cc == 0xd5) {
		return fmt.Errorf("ipmibmc %s: power %v refused: %w", b.cfg.target(), action, err)
	} else if refused {
		err = nil // "not in present state": already off, if the read-back agrees
	}
	sent := err
	// Sent, perhaps carried out: from here on only the read-back decides.
	t := time.NewTicker(b.cfg.PowerPoll)
	defer t.Stop()
	for {
		st, rerr := b.PowerState(ctx)
		if rerr == nil && st == want {
			return nil
		}
		select {
		case <-ctx.Done():
			if sent != nil {
				return fmt.Errorf("ipmibmc %s: power %v: %w: request sent, answer lost (%v); state not confirmed: %w",
					b.cfg.target(), action, bmc.ErrIndeterminate, sent, ctx.Err())
			}
			return fmt.Errorf("ipmibmc %s: power %v: %w: accepted by the BMC, but the state read %v until the deadline: %w",
				b.cfg.target(), action, bmc.ErrIndeterminate, st, ctx.Err())
		case <-t.C:
		}
	}
}
