package libvirthv

import (
	"context"
	"fmt"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
)

// FreeCapacity is the node's memory and CPUs (times Config.CPUOvercommit)
// less what its active (running or paused) domains are given. CPUs may
// come out negative when vCPUs already exceed that.
func (h *Hypervisor) FreeCapacity(ctx context.Context) (hypervisor.Capacity, error) {
	var free hypervisor.Capacity
	err := h.conns.do(ctx, "free capacity", nil, func(c *libvirt.Connect) error {
		var err error
		free, err = nodeFree(c, h.cfg.CPUOvercommit)
		return err
	})
	return free, err
}

// reserveMemory checks that dom fits in the node's free memory less the
// memory of starts under way, and reserves it until release is called. A
// start whose domain already shows as active is counted once, by the node.
func (h *Hypervisor) reserveMemory(c *libvirt.Connect, dom domain) (release func(), err error) {
	if !h.cfg.EnforceMemory {
		return func() {}, nil
	}
	h.resMu.Lock()
	defer h.resMu.Unlock()
	free, active, err := nodeFreeActive(c, h.cfg.CPUOvercommit)
	if err != nil {
		return nil, err
	}
	avail := free.MemoryMiB
	for name, mib := range h.pending {
		if !active[name] {
			avail -= mib
		}
	}
	if dom.MemoryMiB > avail {
		return nil, fmt.Errorf("libvirthv: start %q: needs %d MiB, %d MiB free: %w", dom.Name, dom.MemoryMiB, avail, hypervisor.ErrNoCapacity)
	}
	if h.pending == nil {
		h.pending = map[string]int64{}
	}
	h.pending[dom.Name] += dom.MemoryMiB
	h.reserved += dom.MemoryMiB
	return func() {
		h.resMu.Lock()
		h.reserved -= dom.MemoryMiB
		if h.pending[dom.Name] -= dom.MemoryMiB; h.pending[dom.Name] <= 0 {
			delete(h.pending, dom.Name)
		}
		h.resMu.Unlock()
	}, nil
}

func nodeFree(c *libvirt.Connect, overcommit float64) (hypervisor.Capacity, error) {
	free, _, err := nodeFreeActive(c, overcommit)
	return free, err
}

// nodeFreeActive is nodeFree and the names of the active domains.
func nodeFreeActive(c *libvirt.Connect, overcommit float64) (hypervisor.Capacity, map[string]bool, error) {
	ni, err := c.GetNodeInfo()
	if err != nil {
		return hypervisor.Capacity{}, nil, fmt.Errorf("libvirthv: node info: %w", err)
	}
	doms, err := c.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_ACTIVE)
	if err != nil {
		return hypervisor.Capacity{}, nil, fmt.Errorf("libvirthv: list active domains: %w", err)
	}
	defer freeAll(doms)
	free := hypervisor.Capacity{MemoryMiB: int64(ni.Memory / 1024), CPUs: int(float64(ni.Cpus) * max(overcommit, 1))}
	active := make(map[string]bool, len(doms))
	for i := range doms {
		vm, err := describe(&doms[i])
		if isNoDomain(err) {
			continue // stopped while listing
		}
		if err != nil {
			return hypervisor.Capacity{}, nil, fmt.Errorf("libvirthv: free capacity: %w", err)
		}
		free = free.Sub(hypervisor.Capacity{MemoryMiB: vm.MemoryMiB, CPUs: vm.CPUs})
		active[vm.Name] = true
	}
	return free, active, nil
}
