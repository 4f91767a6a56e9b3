package libvirthv

import (
	"context"
	"fmt"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
)

// FreeCapacity is the node's memory and CPUs less what its active
// (running or paused) domains are given. CPUs may come out negative on a
// host that overcommits them.
func (h *Hypervisor) FreeCapacity(ctx context.Context) (hypervisor.Capacity, error) {
	var free hypervisor.Capacity
	err := h.conns.do(ctx, "free capacity", nil, func(c *libvirt.Connect) error {
		ni, err := c.GetNodeInfo()
		if err != nil {
			return fmt.Errorf("libvirthv: node info: %w", err)
		}
		doms, err := c.ListAllDomains(libvirt.CONNECT_LIST_DOMAINS_ACTIVE)
		if err != nil {
			return fmt.Errorf("libvirthv: list active domains: %w", err)
		}
		defer freeAll(doms)
		free = hypervisor.Capacity{MemoryMiB: int64(ni.Memory / 1024), CPUs: int(ni.Cpus)}
		for i := range doms {
			vm, err := describe(&doms[i])
			if isNoDomain(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("libvirthv: free capacity: %w", err)
			}
			free = free.Sub(hypervisor.Capacity{MemoryMiB: vm.MemoryMiB, CPUs: vm.CPUs})
		}
		return nil
	})
	return free, err
}
