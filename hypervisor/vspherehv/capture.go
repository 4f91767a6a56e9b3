package vspherehv

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// Capture reads a VM on this host into an image in the register form: the
// .vmx datastore path as Definition, the disks' backing files as Disks,
// memory and CPUs, and Config.Server (or Config.Host) as Owner. Generation
// is 0: the caller stores it.
func (h *Hypervisor) Capture(ctx context.Context, name string) (imagestore.Image, error) {
	v, hi, err := h.findHere(ctx, name)
	if err != nil {
		return imagestore.Image{}, err
	}
	if v.vmx == "" {
		return imagestore.Image{}, fmt.Errorf("vspherehv: capture %q on host %q: vCenter reports no .vmx path: %w", name, hi.name, hypervisor.ErrBadImage)
	}
	var m mo.VirtualMachine
	if err := property.DefaultCollector(h.vc).RetrieveOne(ctx, v.ref, []string{"config.hardware.device"}, &m); err != nil {
		return imagestore.Image{}, wrap(err, hypervisor.ErrUnreachable, "capture %q: read devices", name)
	}
	var disks []string
	if m.Config != nil {
		for _, d := range m.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			if !ok {
				continue
			}
			if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
				disks = append(disks, b.GetVirtualDeviceFileBackingInfo().FileName)
			}
		}
	}
	owner := h.cfg.Server
	if owner == "" {
		owner = h.cfg.Host
	}
	return imagestore.Image{
		Name:       name,
		Definition: []byte(v.vmx),
		Disks:      disks,
		Owner:      owner,
		MemoryMiB:  v.memMiB,
		CPUs:       v.cpus,
	}, nil
}
