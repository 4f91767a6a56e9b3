package demosim

import (
	"context"
	"fmt"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// Hypervisor reaches one served memhv.Hypervisor. It implements
// hypervisor.Hypervisor and every optional interface memhv implements.
// Create it with NewHypervisor.
type Hypervisor struct {
	c *client
}

var (
	_ hypervisor.Hypervisor       = (*Hypervisor)(nil)
	_ hypervisor.Checkpointer     = (*Hypervisor)(nil)
	_ hypervisor.CapacityReporter = (*Hypervisor)(nil)
	_ hypervisor.Capturer         = (*Hypervisor)(nil)
)

// NewHypervisor returns a client of host's hypervisor served on
// socketPath. It does not connect: the first call does.
func NewHypervisor(socketPath, host string) (*Hypervisor, error) {
	c, err := newClient(socketPath, "hv", "hypervisor", host)
	if err != nil {
		return nil, err
	}
	return &Hypervisor{c: c}, nil
}

// Close ends this client: later calls fail with an error wrapping
// hypervisor.ErrUnreachable. The served hypervisor is not affected.
func (h *Hypervisor) Close() error {
	h.c.close()
	return nil
}

// do makes a call and classifies its failure. A call that never reached
// the server wraps hypervisor.ErrUnreachable. One that changes the host
// (start, stop, checkpoint) and whose answer is lost wraps
// failover.ErrOutcomeUnknown, so the engine checks the VM's state instead
// of assuming it failed; for a read it wraps ErrUnreachable.
func (h *Hypervisor) do(ctx context.Context, op, what string, req, res any, changes bool) error {
	st, err := h.c.call(ctx, op, req, res)
	if err == nil {
		return nil
	}
	switch {
	case st == answered:
		return fmt.Errorf("demosim %s: %s: %w", h.c.what, what, err)
	case st == notSent:
		return fmt.Errorf("demosim %s: %s: %w: %w", h.c.what, what, hypervisor.ErrUnreachable, err)
	case changes && st == lost:
		return fmt.Errorf("demosim %s: %s: %w: %w: answer lost, it may have been carried out: %w", h.c.what, what, failover.ErrOutcomeUnknown, hypervisor.ErrUnreachable, err)
	case changes:
		return fmt.Errorf("demosim %s: %s: %w: answer unreadable, it may have been carried out: %w", h.c.what, what, failover.ErrOutcomeUnknown, err)
	case st == lost:
		return fmt.Errorf("demosim %s: %s: %w: %w", h.c.what, what, hypervisor.ErrUnreachable, err)
	}
	return fmt.Errorf("demosim %s: %s: %w", h.c.what, what, err)
}

// Start runs img on the served hypervisor.
func (h *Hypervisor) Start(ctx context.Context, img imagestore.Image) error {
	return h.do(ctx, "start", fmt.Sprintf("start %q", img.Name), startRequest{Image: img}, &emptyRequest{}, true)
}

// Stop stops VM name; stopping a stopped or unknown VM is success.
func (h *Hypervisor) Stop(ctx context.Context, name string) error {
	return h.do(ctx, "stop", fmt.Sprintf("stop %q", name), nameRequest{Name: name}, &emptyRequest{}, true)
}

// State returns VM name's state, or an error wrapping
// hypervisor.ErrNotFound.
func (h *Hypervisor) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	var s hypervisor.VMState
	if err := h.do(ctx, "state", fmt.Sprintf("state %q", name), nameRequest{Name: name}, &s, false); err != nil {
		return hypervisor.StateUnknown, err
	}
	if s > hypervisor.StateStopped {
		return hypervisor.StateUnknown, fmt.Errorf("demosim %s: state %q: %w: VM state %d", h.c.what, name, ErrProtocol, s)
	}
	return s, nil
}

// List returns every VM known to the served hypervisor, sorted by name.
func (h *Hypervisor) List(ctx context.Context) ([]hypervisor.VM, error) {
	var vms []hypervisor.VM
	if err := h.do(ctx, "list", "list", emptyRequest{}, &vms, false); err != nil {
		return nil, err
	}
	for _, vm := range vms {
		if vm.State > hypervisor.StateStopped {
			return nil, fmt.Errorf("demosim %s: list: %w: VM %q in state %d", h.c.what, ErrProtocol, vm.Name, vm.State)
		}
	}
	return vms, nil
}

// Checkpoint saves running VM name to shared storage and stops it.
func (h *Hypervisor) Checkpoint(ctx context.Context, name string) (string, error) {
	var res checkpointResult
	if err := h.do(ctx, "checkpoint", fmt.Sprintf("checkpoint %q", name), nameRequest{Name: name}, &res, true); err != nil {
		return "", err
	}
	if res.Ref == "" {
		return "", fmt.Errorf("demosim %s: checkpoint %q: %w: empty checkpoint reference", h.c.what, name, ErrProtocol)
	}
	return res.Ref, nil
}

// FreeCapacity returns the capacity free for new VMs.
func (h *Hypervisor) FreeCapacity(ctx context.Context) (hypervisor.Capacity, error) {
	var c hypervisor.Capacity
	if err := h.do(ctx, "free-capacity", "free capacity", emptyRequest{}, &c, false); err != nil {
		return hypervisor.Capacity{}, err
	}
	return c, nil
}

// Capture returns running VM name as an image.
func (h *Hypervisor) Capture(ctx context.Context, name string) (imagestore.Image, error) {
	var img imagestore.Image
	if err := h.do(ctx, "capture", fmt.Sprintf("capture %q", name), nameRequest{Name: name}, &img, false); err != nil {
		return imagestore.Image{}, err
	}
	return img, nil
}
