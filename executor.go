package failover

import (
	"context"
	"errors"
	"fmt"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// Executor carries out one engine Action against the adapters and returns
// the Input that answers it. It decides nothing: what an answer means is
// the engine's to judge. It keeps no state besides its adapters, so a
// simulation can schedule actions its own way and still run the Monitor's
// exact IO. Safe for concurrent use when the adapters are.
type Executor struct {
	cfg Config
}

// NewExecutor checks cfg (see Config.Validate, with defaults applied as
// NewMonitor does) and returns an Executor.
func NewExecutor(cfg Config) (*Executor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Executor{cfg: cfg}, nil
}

// Do carries out a, each call bounded by Config.ActionTimeout (a
// checkpoint also by a.Deadline), and returns its answer with ID and Kind
// set; the caller sets Time. ActionNotify is not carried out here.
func (x *Executor) Do(ctx context.Context, a Action) Input {
	in := Input{Kind: a.Kind.answer(), ID: a.ID}
	c, cancel := context.WithTimeout(ctx, x.cfg.ActionTimeout)
	defer cancel()
	cfg := &x.cfg
	switch a.Kind {
	case ActionInventory:
		in.Images, in.Err = imagestore.OwnedBy(c, cfg.Store, a.Server)
		if cr, ok := cfg.Hypervisor.(hypervisor.CapacityReporter); ok && in.Err == nil {
			free, err := cr.FreeCapacity(c)
			if err != nil {
				in.Err = fmt.Errorf("free capacity of %s: %w", cfg.Server, err)
			}
			in.Free, in.FreeKnown = free, err == nil
		}
		_, in.CanEvacuate = cfg.Peers[a.Server].(hypervisor.Checkpointer)
	case ActionScan:
		in.Images, in.Err = imagestore.OwnedBy(c, cfg.Store, cfg.Server)
		if in.Err == nil {
			vms, err := cfg.Hypervisor.List(c)
			if err != nil {
				in.Err = fmt.Errorf("failover: list VMs on %s: %w", cfg.Server, err)
			}
			for _, vm := range vms {
				if vm.State == hypervisor.StateRunning || vm.State == hypervisor.StatePaused {
					in.Running = append(in.Running, vm.Name)
				}
			}
		}
	case ActionCheckpoint:
		in.Image, in.Err = x.checkpoint(ctx, a)
	case ActionFence:
		if a.ByLease {
			in.Err = x.takeoverByLease(c, a.Server)
			break
		}
		in.Err = cfg.Manager.Power(c, a.Server, bmc.PowerActionOff)
	case ActionRestart:
		if a.ByLease {
			if err := x.releaseLease(c, a.Server); err != nil {
				in.Err = err
				break
			}
		}
		in.Err = cfg.Manager.Power(c, a.Server, a.Power)
	case ActionProbe:
		h := cfg.Peers[a.Server]
		if a.Server == cfg.Server {
			h = cfg.Hypervisor
		}
		if h == nil {
			in.Err = fmt.Errorf("failover: no hypervisor of %s to ask", a.Server)
			break
		}
		in.State, in.Err = h.State(c, a.Image.Name)
	case ActionClaim:
		in.Image, in.Err = imagestore.Claim(c, cfg.Store, a.Image, cfg.Server)
		if errors.Is(in.Err, imagestore.ErrStaleGeneration) {
			if cur, err := cfg.Store.Get(c, a.Image.Name); err == nil {
				in.Current = &cur
			}
		}
	case ActionStart:
		if err := cfg.Hypervisor.Start(c, a.Image); err != nil {
			in.Err = fmt.Errorf("failover: start %q on %s: %w", a.Image.Name, cfg.Server, err)
		}
	case ActionVMState:
		in.State, in.Err = cfg.Hypervisor.State(c, a.Image.Name)
	default:
		in.Err = fmt.Errorf("failover: action %v is not carried out by an executor", a.Kind)
	}
	if in.Err != nil && errors.Is(in.Err, context.DeadlineExceeded) {
		in.Err = Abandoned(a, in.Err)
	}
	return in
}

// Abandoned is the error of an action whose call timed out or was given
// up on: indeterminate for power, outcome unknown otherwise.
func Abandoned(a Action, cause error) error {
	switch a.Kind {
	case ActionFence, ActionRestart:
		if errors.Is(cause, bmc.ErrIndeterminate) {
			return cause
		}
		return fmt.Errorf("%w: %v %s: %w", bmc.ErrIndeterminate, a.Kind, a.Server, cause)
	}
	if errors.Is(cause, ErrOutcomeUnknown) {
		return cause
	}
	return fmt.Errorf("%w: %v %s: %w", ErrOutcomeUnknown, a.Kind, a.Image.Name, cause)
}

// checkpoint saves and stops a VM on the degraded server, then records the
// checkpoint in the store at the image's generation.
func (x *Executor) checkpoint(ctx context.Context, a Action) (imagestore.Image, error) {
	img := a.Image
	cp, ok := x.cfg.Peers[a.Server].(hypervisor.Checkpointer)
	if !ok {
		return img, fmt.Errorf("failover: %s: hypervisor cannot checkpoint", a.Server)
	}
	left := a.Deadline.Sub(x.cfg.Clock.Now())
	if left <= 0 {
		return img, fmt.Errorf("failover: checkpoint %q: evacuation deadline passed", img.Name)
	}
	c, cancel := context.WithTimeout(ctx, min(left, x.cfg.ActionTimeout))
	defer cancel()
	ref, err := cp.Checkpoint(c, img.Name)
	if err != nil {
		return img, fmt.Errorf("failover: checkpoint %q on %s: %w", img.Name, a.Server, err)
	}
	withRef := img.Clone()
	withRef.Checkpoint = ref
	withRef.CheckpointGeneration = img.Generation + 1 // the generation this Put stores
	stored, err := x.cfg.Store.Put(c, withRef)
	if err != nil {
		return img, fmt.Errorf("failover: record checkpoint of %q: %w", img.Name, err)
	}
	return stored, nil
}

func (x *Executor) takeoverByLease(ctx context.Context, server string) error {
	if x.cfg.Leases == nil {
		return fmt.Errorf("failover: takeover of %s by lease: no lease store configured (Config.Leases)", server)
	}
	if err := x.cfg.Leases.Takeover(ctx, server, x.cfg.Server); err != nil {
		return fmt.Errorf("failover: takeover of %s by lease: %w", server, err)
	}
	return nil
}

func (x *Executor) releaseLease(ctx context.Context, server string) error {
	if x.cfg.Leases == nil {
		return fmt.Errorf("failover: release of %s: no lease store configured (Config.Leases)", server)
	}
	if err := x.cfg.Leases.Release(ctx, server, x.cfg.Server); err != nil {
		return fmt.Errorf("failover: release of the takeover of %s: %w", server, err)
	}
	return nil
}
