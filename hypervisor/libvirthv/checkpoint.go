package libvirthv

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
)

// Checkpoint saves the running VM's memory to a new file in
// Config.CheckpointDir and stops it (it stays defined here); the returned
// path is the reference for imagestore.Image.Checkpoint. Start on another
// host restores it. Errors wrap ErrNotFound for an unknown VM and
// ErrCheckpointFailed otherwise (no CheckpointDir, VM not running, save
// refused); after ErrCheckpointFailed the VM is where it was.
func (h *Hypervisor) Checkpoint(ctx context.Context, name string) (string, error) {
	if h.cfg.CheckpointDir == "" {
		return "", fmt.Errorf("libvirthv: checkpoint %q: Config.CheckpointDir is empty: %w", name, hypervisor.ErrCheckpointFailed)
	}
	if _, err := parseName(name); err != nil {
		return "", fmt.Errorf("libvirthv: checkpoint %q: %w: %w", name, hypervisor.ErrCheckpointFailed, err)
	}
	ref := filepath.Join(h.cfg.CheckpointDir, fmt.Sprintf("%s-%s.save", name, time.Now().UTC().Format("20060102T150405.000000000Z")))
	err := h.withName(ctx, name, "checkpoint", func(c *libvirt.Connect) error {
		d, err := lookup(c, name)
		if err != nil {
			return err
		}
		defer d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		s, _, err := d.GetState()
		if err != nil {
			return stateErr(name, err)
		}
		if st := vmState(s); st != hypervisor.StateRunning && st != hypervisor.StatePaused {
			return fmt.Errorf("libvirthv: checkpoint %q: it is %v: %w", name, st, hypervisor.ErrCheckpointFailed)
		}
		if err := d.Save(ref); err != nil {
			if isNoDomain(err) {
				return stateErr(name, err)
			}
			return fmt.Errorf("libvirthv: checkpoint %q to %q: %w: %w", name, ref, hypervisor.ErrCheckpointFailed, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return ref, nil
}

// parseName refuses names that cannot be part of a file name.
func parseName(name string) (string, error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return "", fmt.Errorf("name %q cannot name a checkpoint file", name)
	}
	return name, nil
}
