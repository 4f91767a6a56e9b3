package demosim

import (
	"fmt"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor/memhv"
)

// NewHost returns one server's simulated hardware: its BMC (from bcfg)
// and its hypervisor (from hcfg), coupled so that the BMC's power off
// (fence, watchdog expiry, lost main power) takes every VM with it and
// makes the hypervisor unreachable, and power on brings it back, empty.
// bcfg.OnPower, when set, is still called, after the hypervisor follows.
// The two names must match.
func NewHost(bcfg simbmc.Config, hcfg memhv.Config) (*simbmc.BMC, *memhv.Hypervisor, error) {
	if bcfg.Name != hcfg.Name {
		return nil, nil, fmt.Errorf("%w: NewHost: BMC config names %q, hypervisor config %q", ErrInvalidArgument, bcfg.Name, hcfg.Name)
	}
	if err := bcfg.Validate(); err != nil { // before memhv.New registers hcfg.Name on its Storage
		return nil, nil, err
	}
	hv, err := memhv.New(hcfg)
	if err != nil {
		return nil, nil, err
	}
	then := bcfg.OnPower
	bcfg.OnPower = func(p bmc.PowerState) {
		// Called with the BMC's lock held; memhv never calls the BMC.
		switch p {
		case bmc.PowerOff:
			hv.PowerOff()
		case bmc.PowerOn:
			hv.PowerOn()
		}
		if then != nil {
			then(p)
		}
	}
	b, err := simbmc.New(bcfg)
	if err != nil {
		return nil, nil, err
	}
	return b, hv, nil
}
