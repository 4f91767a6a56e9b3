package libvirthv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
)

// Hypervisor is one libvirt host.
type Hypervisor struct {
	cfg   Config
	conns conns
	names nameLocks

	resMu    sync.Mutex
	reserved int64            // MiB of starts under way
	pending  map[string]int64 // those starts, by domain name
}

// The capabilities this adapter offers.
var (
	_ hypervisor.Hypervisor       = (*Hypervisor)(nil)
	_ hypervisor.Checkpointer     = (*Hypervisor)(nil)
	_ hypervisor.CapacityReporter = (*Hypervisor)(nil)
	_ hypervisor.Capturer         = (*Hypervisor)(nil)
)

// New validates cfg. It does not connect: the connection opens on the
// first call (or Ping), so a hypervisor whose host is down can be set up
// and fails each call with ErrUnreachable until the host is back.
func New(cfg Config) (*Hypervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Hypervisor{cfg: cfg, conns: conns{uri: cfg.URI, keepAlive: cfg.KeepAliveInterval, kaCount: cfg.KeepAliveCount}}, nil
}

// Ping opens the connection if needed and checks it is alive.
func (h *Hypervisor) Ping(ctx context.Context) error {
	return h.conns.do(ctx, "ping", nil, func(c *libvirt.Connect) error {
		if _, err := c.GetURI(); err != nil {
			return fmt.Errorf("libvirthv: ping: %w", err)
		}
		return nil
	})
}

// Close closes the connection once calls still running are done. Calls
// after Close return ErrClosed.
func (h *Hypervisor) Close() error {
	h.conns.close()
	return nil
}

// String names the host without credentials.
func (h *Hypervisor) String() string { return "libvirthv(" + redactURI(h.cfg.URI) + ")" }

// withName runs fn under name's lock, through conns.do.
func (h *Hypervisor) withName(ctx context.Context, name, what string, fn func(c *libvirt.Connect) error) error {
	unlock, err := h.names.lock(ctx, name)
	if err != nil {
		return fmt.Errorf("libvirthv: %s %q: waiting for another call about it: %w: %w", what, name, hypervisor.ErrUnreachable, err)
	}
	return h.conns.do(ctx, fmt.Sprintf("%s %q", what, name), unlock, fn)
}

// State returns the VM's state, or ErrNotFound.
func (h *Hypervisor) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	st := hypervisor.StateUnknown
	err := h.conns.do(ctx, fmt.Sprintf("state %q", name), nil, func(c *libvirt.Connect) error {
		d, err := lookup(c, name)
		if err != nil {
			return err
		}
		defer d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		s, _, err := d.GetState()
		if err != nil {
			return stateErr(name, err)
		}
		st = vmState(s)
		return nil
	})
	return st, err
}

// List returns every domain of the host, sorted by name.
func (h *Hypervisor) List(ctx context.Context) ([]hypervisor.VM, error) {
	var vms []hypervisor.VM
	err := h.conns.do(ctx, "list", nil, func(c *libvirt.Connect) error {
		doms, err := c.ListAllDomains(0)
		if err != nil {
			return fmt.Errorf("libvirthv: list domains: %w", err)
		}
		defer freeAll(doms)
		for i := range doms {
			vm, err := describe(&doms[i])
			if isNoDomain(err) {
				continue // went away while listing
			}
			if err != nil {
				return fmt.Errorf("libvirthv: list domains: %w", err)
			}
			vms = append(vms, vm)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(vms, func(a, b hypervisor.VM) int { return strings.Compare(a.Name, b.Name) })
	return vms, nil
}

func describe(d *libvirt.Domain) (hypervisor.VM, error) {
	name, err := d.GetName()
	if err != nil {
		return hypervisor.VM{}, err
	}
	info, err := d.GetInfo()
	if err != nil {
		return hypervisor.VM{}, err
	}
	mem := info.Memory
	if mem == 0 {
		mem = info.MaxMem
	}
	return hypervisor.VM{
		Name:      name,
		State:     vmState(info.State),
		MemoryMiB: int64((mem + 1023) / 1024),
		CPUs:      int(info.NrVirtCpu),
	}, nil
}

func freeAll(doms []libvirt.Domain) {
	for i := range doms {
		doms[i].Free() //nolint:errcheck // freeing a handle cannot be acted on
	}
}

// lookup finds a domain by name; a missing one wraps ErrNotFound.
func lookup(c *libvirt.Connect, name string) (*libvirt.Domain, error) {
	d, err := c.LookupDomainByName(name)
	if err != nil {
		return nil, stateErr(name, err)
	}
	return d, nil
}

func stateErr(name string, err error) error {
	if isNoDomain(err) {
		return fmt.Errorf("libvirthv: domain %q: %w", name, hypervisor.ErrNotFound)
	}
	return fmt.Errorf("libvirthv: domain %q: %w", name, err)
}

// vmState maps libvirt's states. A domain shutting down still runs, and
// still holds its disks, so it counts as running.
func vmState(s libvirt.DomainState) hypervisor.VMState {
	switch s {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED, libvirt.DOMAIN_SHUTDOWN:
		return hypervisor.StateRunning
	case libvirt.DOMAIN_PAUSED, libvirt.DOMAIN_PMSUSPENDED:
		return hypervisor.StatePaused
	case libvirt.DOMAIN_SHUTOFF, libvirt.DOMAIN_CRASHED:
		return hypervisor.StateStopped
	}
	return hypervisor.StateUnknown
}

// active reports whether a state holds the VM's disks.
func active(s hypervisor.VMState) bool {
	return s == hypervisor.StateRunning || s == hypervisor.StatePaused || s == hypervisor.StateUnknown
}
