package vspherehv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/rackha/failover/hypervisor"
)

// Stop shuts the VM down: a guest shutdown for up to ShutdownTimeout (and
// no later than ctx's deadline less ForceReserve), then a power-off. A VM
// that is not on this host, powered off or suspended is success.
func (h *Hypervisor) Stop(ctx context.Context, name string) error {
	unlock := h.names.lock(name)
	defer unlock()
	v, hi, err := h.findHere(ctx, name)
	if errors.Is(err, hypervisor.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if v.power != types.VirtualMachinePowerStatePoweredOn {
		return nil
	}
	if err := requireUp(hi, fmt.Sprintf("stop %q", name)); err != nil {
		return err
	}
	vm := object.NewVirtualMachine(h.vc, v.ref)
	if h.gracefulWindow(ctx) > 0 {
		if err := vm.ShutdownGuest(ctx); err == nil {
			if h.waitOff(ctx, vm, h.gracefulWindow(ctx)) {
				return nil
			}
		} else {
			h.log.LogAttrs(ctx, slog.LevelInfo, "vspherehv: guest shutdown refused, powering off",
				attr("vm", name), attr("error", err.Error()))
		}
	}
	if _, err := h.run(ctx, vm.PowerOff); err != nil && !alreadyOff(err) {
		return wrap(err, hypervisor.ErrUnreachable, "power off %q on host %q", name, hi.name)
	}
	return nil
}

// gracefulWindow is how long a guest shutdown may take from now.
func (h *Hypervisor) gracefulWindow(ctx context.Context) time.Duration {
	w := h.cfg.ShutdownTimeout
	if dl, ok := ctx.Deadline(); ok {
		w = min(w, time.Until(dl)-h.cfg.ForceReserve)
	}
	return w
}

// waitOff polls until vm is powered off or d has passed.
func (h *Hypervisor) waitOff(ctx context.Context, vm *object.VirtualMachine, d time.Duration) bool {
	end := time.Now().Add(d)
	pc := property.DefaultCollector(h.vc)
	for {
		var m mo.VirtualMachine
		if err := pc.RetrieveOne(ctx, vm.Reference(), []string{"runtime.powerState"}, &m); err == nil &&
			m.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff {
			return true
		}
		left := time.Until(end)
		if left <= 0 {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(min(left, h.cfg.PollInterval)):
		}
	}
}

// Checkpoint suspends a running VM on this host. vSphere writes its memory
// beside the .vmx on the shared datastore; the returned reference is that
// .vmx path, for imagestore.Image.Checkpoint. Registering the .vmx on
// another host and powering it on resumes the VM.
func (h *Hypervisor) Checkpoint(ctx context.Context, name string) (string, error) {
	unlock := h.names.lock(name)
	defer unlock()
	v, hi, err := h.findHere(ctx, name)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w: %w", hypervisor.ErrCheckpointFailed, err)
	}
	if err := requireUp(hi, fmt.Sprintf("checkpoint %q", name)); err != nil {
		return "", fmt.Errorf("%w: %w", hypervisor.ErrCheckpointFailed, err)
	}
	if v.power != types.VirtualMachinePowerStatePoweredOn {
		return "", fmt.Errorf("vspherehv: checkpoint %q: it is %s, not running: %w", name, v.power, hypervisor.ErrCheckpointFailed)
	}
	if v.vmx == "" {
		return "", fmt.Errorf("vspherehv: checkpoint %q: vCenter reports no .vmx path: %w", name, hypervisor.ErrCheckpointFailed)
	}
	vm := object.NewVirtualMachine(h.vc, v.ref)
	if _, err := h.run(ctx, vm.Suspend); err != nil {
		return "", wrap(err, hypervisor.ErrCheckpointFailed, "suspend %q on host %q", name, hi.name)
	}
	return v.vmx, nil
}
