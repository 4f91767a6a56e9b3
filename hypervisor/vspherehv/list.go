package vspherehv

import (
	"context"
	"log/slog"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/rackha/failover/hypervisor"
)

// stateOf maps vSphere power states. A suspended VM is stopped: its memory
// is on disk and nothing runs (see Checkpoint).
func stateOf(p types.VirtualMachinePowerState) hypervisor.VMState {
	switch p {
	case types.VirtualMachinePowerStatePoweredOn:
		return hypervisor.StateRunning
	case types.VirtualMachinePowerStatePoweredOff, types.VirtualMachinePowerStateSuspended:
		return hypervisor.StateStopped
	}
	return hypervisor.StateUnknown
}

// State returns the state of the VM called name on this host, or an error
// wrapping hypervisor.ErrNotFound, or hypervisor.ErrHostDown when the host
// is not connected or powered on (vCenter's view of its VMs is stale).
func (h *Hypervisor) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	v, hi, err := h.findHere(ctx, name)
	if err != nil {
		return hypervisor.StateUnknown, err
	}
	// vCenter keeps showing the VMs of a host that stopped responding as
	// it last saw them: their state is not known.
	if err := requireUp(hi, "state of "+name); err != nil {
		return hypervisor.StateUnknown, err
	}
	return stateOf(v.power), nil
}

// List returns the VMs registered on this host (templates left out),
// sorted by name.
func (h *Hypervisor) List(ctx context.Context) ([]hypervisor.VM, error) {
	_, vs, err := h.onHost(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]hypervisor.VM, 0, len(vs))
	for _, v := range vs {
		out = append(out, hypervisor.VM{Name: v.name, State: stateOf(v.power), MemoryMiB: v.memMiB, CPUs: v.cpus})
	}
	return out, nil
}

// FreeCapacity is the host's memory and logical CPUs (threads) less what
// its powered-on VMs are configured with. A host that is down has none: the
// error wraps hypervisor.ErrHostDown.
func (h *Hypervisor) FreeCapacity(ctx context.Context) (hypervisor.Capacity, error) {
	hi, err := h.self(ctx)
	if err != nil {
		return hypervisor.Capacity{}, err
	}
	if err := requireUp(hi, "free capacity"); err != nil {
		return hypervisor.Capacity{}, err
	}
	return h.free(ctx, hi)
}

func (h *Hypervisor) free(ctx context.Context, hi hostInfo) (hypervisor.Capacity, error) {
	vs, err := h.vms(ctx, hi.vms)
	if err != nil {
		return hypervisor.Capacity{}, err
	}
	c := hypervisor.Capacity{MemoryMiB: hi.memMiB, CPUs: hi.threads}
	for _, v := range vs {
		if v.power == types.VirtualMachinePowerStatePoweredOn {
			c = c.Sub(hypervisor.Capacity{MemoryMiB: v.memMiB, CPUs: v.cpus})
		}
	}
	return c, nil
}

var attr = slog.String
