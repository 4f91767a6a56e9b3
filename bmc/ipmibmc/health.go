package ipmibmc

import (
	"context"
	"fmt"
	"strings"

	"github.com/rackha/failover/bmc"
)

// Health reads chassis status (power and the power-subsystem fault bits)
// and the SEL entries logged since the previous Health call. The first
// call only notes where the SEL ends: older entries are history, not news.
// Fault is set when one of the new entries is a blade fault (processor
// IERR, power supply failure, uncorrectable memory error, ...); a reading
// past a threshold is reported as an event but is not a blade fault, the
// engine judges readings itself.
func (b *BMC) Health(ctx context.Context) (bmc.Health, error) {
	c, err := b.chassis(ctx)
	if err != nil {
		return bmc.Health{}, err
	}
	h := bmc.Health{
		Power:          bmc.PowerOff,
		Overload:       c.overload,
		Interlock:      c.interlock,
		PowerFault:     c.controlFault, // power control fault
		MainPowerFault: c.mainFault,
	}
	if c.on {
		h.Power = bmc.PowerOn
	}
	evs, faults, err := b.newEvents(ctx)
	if err != nil {
		return bmc.Health{}, err
	}
	h.Events = evs
	if len(faults) > 0 {
		h.Fault = true
		h.Detail = strings.Join(faults, "; ")
	}
	return h, nil
}

// newEvents returns the SEL entries added since the last call.
func (b *BMC) newEvents(ctx context.Context) ([]bmc.Event, []string, error) {
	b.selMu.Lock()
	defer b.selMu.Unlock()
	d, err := b.s.raw(ctx, "Get SEL Info", netFnStorage, cmdSELInfo, nil, true)
	if _, isCC := ccOf(err); isCC {
		return nil, nil, nil // no SEL on this BMC
	}
	if err != nil {
		return nil, nil, err
	}
	info, err := decodeRepoInfo("Get SEL Info", d)
	if err != nil {
		return nil, nil, fmt.Errorf("ipmibmc %s: %w", b.cfg.target(), err)
	}
	if !b.selReady {
		// Baseline: the last entry (record ID 0xffff means "last").
		_, rec, err := b.getSEL(ctx, 0xffff)
		switch cc, isCC := ccOf(err); {
		case err == nil:
			b.selLast, b.selHave = rec.id, true
		case isCC && cc == 0xcb:
			b.selHave = false // empty
		default:
			return nil, nil, err
		}
		b.selInfo, b.selReady = info, true
		return nil, nil, nil
	}
	if info == b.selInfo {
		return nil, nil, nil
	}
	var evs []bmc.Event
	var faults []string
	id := uint16(0) // first entry
	if b.selHave && info.erased == b.selInfo.erased {
		next, _, err := b.getSEL(ctx, b.selLast)
		switch cc, isCC := ccOf(err); {
		case err == nil:
			id = next
		case isCC && cc == 0xcb:
			id = 0 // our last entry was erased: start over
		default:
			return nil, nil, err
		}
	}
	for n := 0; id != 0xffff; n++ {
		if n > 4096 {
			return nil, nil, fmt.Errorf("ipmibmc %s: %w: SEL does not end after 4096 new entries", b.cfg.target(), bmc.ErrMalformed)
		}
		next, rec, err := b.getSEL(ctx, id)
		if cc, isCC := ccOf(err); isCC && cc == 0xcb {
			break // empty, or erased under us
		}
		if err != nil {
			return nil, nil, err
		}
		e, fault := toEvent(rec, b.sensorName)
		evs = append(evs, e)
		if fault != "" {
			faults = append(faults, fault)
		}
		b.selLast, b.selHave = rec.id, true
		if next == id {
			return nil, nil, fmt.Errorf("ipmibmc %s: %w: SEL entry %#04x names itself as next", b.cfg.target(), bmc.ErrMalformed, id)
		}
		id = next
	}
	b.selInfo = info
	return evs, faults, nil
}

func (b *BMC) getSEL(ctx context.Context, id uint16) (uint16, selRecord, error) {
	d, err := b.s.raw(ctx, "Get SEL Entry", netFnStorage, cmdGetSELEntry, []byte{0, 0, byte(id), byte(id >> 8), 0, 0xff}, true)
	if err != nil {
		return 0, selRecord{}, err
	}
	next, rec, err := decodeNextAndRecord("Get SEL Entry", d)
	if err == nil {
		var r selRecord
		r, err = decodeSEL(rec)
		if err == nil {
			return next, r, nil
		}
	}
	return 0, selRecord{}, fmt.Errorf("ipmibmc %s: %w", b.cfg.target(), err)
}

// sensorName names a sensor number from the SDR cache.
func (b *BMC) sensorName(n uint8) string {
	b.sdrMu.Lock()
	defer b.sdrMu.Unlock()
	for _, s := range b.sdrs {
		if s.number == n {
			return s.name
		}
	}
	if n == 0 {
		return "watchdog"
	}
	return fmt.Sprintf("sensor %#02x", n)
}
