package libvirthv

import (
	"context"
	"fmt"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
)

// Stop asks the guest to shut down and waits for it until
// Config.ShutdownTimeout has passed or ctx's deadline is
// Config.DestroyReserve away, then destroys the domain. A domain that is
// stopped or unknown is success. The domain stays defined.
func (h *Hypervisor) Stop(ctx context.Context, name string) error {
	graceful := gracefulTime(ctx, h.cfg.ShutdownTimeout, h.cfg.DestroyReserve)
	return h.withName(ctx, name, "stop", func(c *libvirt.Connect) error {
		d, err := c.LookupDomainByName(name)
		if isNoDomain(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("libvirthv: stop %q: look up: %w", name, err)
		}
		defer d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		return stopDomain(ctx, name, graceful, h.cfg.PollInterval, domainOps{
			shutdown: d.Shutdown,
			destroy:  d.Destroy,
			state: func() (hypervisor.VMState, error) {
				s, _, err := d.GetState()
				return vmState(s), err
			},
		})
	})
}

// gracefulTime is how long a guest may take to shut down: ShutdownTimeout,
// but never past ctx's deadline less the destroy reserve (at most a
// quarter of the time left).
func gracefulTime(ctx context.Context, timeout, reserve time.Duration) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return timeout
	}
	left := time.Until(dl)
	return max(0, min(timeout, left-min(reserve, left/4)))
}

// domainOps is what stopDomain needs of a domain.
type domainOps struct {
	shutdown func() error
	destroy  func() error
	state    func() (hypervisor.VMState, error)
}

// stopDomain shuts down, waits up to graceful, then destroys. A domain
// that vanishes (transient) or is not running counts as stopped.
func stopDomain(ctx context.Context, name string, graceful, poll time.Duration, d domainOps) error {
	st, err := d.state()
	if isNoDomain(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("libvirthv: stop %q: read state: %w", name, err)
	}
	if !active(st) {
		return nil
	}
	if st == hypervisor.StateRunning && graceful > 0 {
		if err := d.shutdown(); err != nil {
			if isNoDomain(err) || isNotRunning(err) {
				return nil
			}
			// A guest that refuses a graceful shutdown is destroyed below.
		} else if stopped, err := waitStopped(ctx, graceful, poll, d.state); err != nil {
			return fmt.Errorf("libvirthv: stop %q: read state: %w", name, err)
		} else if stopped {
			return nil
		}
	}
	if err := d.destroy(); err != nil {
		if isNoDomain(err) || isNotRunning(err) {
			return nil
		}
		return fmt.Errorf("libvirthv: stop %q: destroy: %w", name, err)
	}
	return nil
}

// waitStopped polls state until the domain stops or graceful passes.
func waitStopped(ctx context.Context, graceful, poll time.Duration, state func() (hypervisor.VMState, error)) (bool, error) {
	deadline := time.NewTimer(graceful)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		st, err := state()
		if isNoDomain(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if !active(st) {
			return true, nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return false, nil
		case <-ctx.Done():
			return false, nil
		}
	}
}
