package redfishbmc

import (
	"context"
	"fmt"

	"github.com/rackha/failover/bmc"
)

// readSystem fetches the served ComputerSystem.
func (b *BMC) readSystem(ctx context.Context) (systemDoc, error) {
	var d systemDoc
	err := b.getJSON(ctx, b.sys.Path, &d)
	return d, err
}

// Health reads the system's Status and PowerState. Events holds what the
// event stream (see Events) delivered since the previous Health call,
// and what the system's log gave since: watchdog expiries and
// correctable memory errors (Kind bmc.EventCorrectableECC, one per new
// log entry; see isCorrectableECC). Health starts that log read, at most
// every Config.WatchdogLogInterval, in the background, and never waits
// for it: what it finds comes with the next Health call.
func (b *BMC) Health(ctx context.Context) (bmc.Health, error) {
	d, err := b.readSystem(ctx)
	if err != nil {
		return bmc.Health{}, err
	}
	b.scanLogBehind(d)
	h := healthOf(d)
	b.evMu.Lock()
	h.Events, b.pending = b.pending, nil
	b.evMu.Unlock()
	return h, nil
}

// healthOf maps a ComputerSystem to bmc.Health.
func healthOf(d systemDoc) bmc.Health {
	h := bmc.Health{Power: powerState(d.PowerState)}
	switch {
	case d.Status.Health == "Critical":
		h.Fault, h.Detail = true, "Status.Health Critical"
	case d.Status.State == "UnavailableOffline" || d.Status.State == "Absent":
		h.Fault, h.Detail = true, "Status.State "+d.Status.State
	case d.Status.HealthRollup == "Critical":
		// A failed part (a DIMM, a fan) is not a failed blade: noted only.
		h.Detail = "Status.HealthRollup Critical"
	case d.Status.Health == "Warning":
		h.Detail = "Status.Health Warning"
	}
	return h
}

// PowerState reads the system's PowerState; a transition (PoweringOn,
// PoweringOff) reads as bmc.PowerUnknown.
func (b *BMC) PowerState(ctx context.Context) (bmc.PowerState, error) {
	d, err := b.readSystem(ctx)
	if err != nil {
		return bmc.PowerUnknown, err
	}
	if d.PowerState == "" {
		return bmc.PowerUnknown, fmt.Errorf("%w: system %s has no PowerState", bmc.ErrMalformed, b.sys.Path)
	}
	return powerState(d.PowerState), nil
}
