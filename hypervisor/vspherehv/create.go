package vspherehv

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// create makes a new VM from the JSON create form: img's memory and CPUs,
// img.Disks attached as existing disks on one SCSI controller.
func (h *Hypervisor) create(ctx context.Context, img imagestore.Image, cs *createSpec, hi hostInfo) (*object.VirtualMachine, error) {
	if img.MemoryMiB <= 0 || img.CPUs <= 0 {
		return nil, fmt.Errorf("vspherehv: create %q: the create form needs MemoryMiB and CPUs, got %d MiB and %d CPUs: %w",
			img.Name, img.MemoryMiB, img.CPUs, hypervisor.ErrBadImage)
	}
	var devices object.VirtualDeviceList
	spec := types.VirtualMachineConfigSpec{
		Name:     img.Name,
		GuestId:  cs.GuestID,
		MemoryMB: img.MemoryMiB,
		NumCPUs:  int32(min(img.CPUs, 1<<20)),
		Files:    &types.VirtualMachineFileInfo{VmPathName: "[" + cs.Datastore + "]"},
	}
	if len(img.Disks) > 0 {
		ctrl, err := devices.CreateSCSIController("lsilogic")
		if err != nil {
			return nil, fmt.Errorf("vspherehv: create %q: SCSI controller: %w: %w", img.Name, hypervisor.ErrBadImage, err)
		}
		devices = append(devices, ctrl)
		c := ctrl.(types.BaseVirtualController)
		for _, d := range img.Disks {
			disk := devices.CreateDisk(c, types.ManagedObjectReference{}, d)
			devices = append(devices, disk)
		}
		add, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
		if err != nil {
			return nil, fmt.Errorf("vspherehv: create %q: device spec: %w: %w", img.Name, hypervisor.ErrBadImage, err)
		}
		spec.DeviceChange = add
	}
	info, err := h.run(ctx, func(ctx context.Context) (*object.Task, error) {
		return h.folder.CreateVM(ctx, spec, h.pool, h.host)
	})
	if err != nil {
		return nil, wrap(err, hypervisor.ErrBadImage, "create %q on host %q", img.Name, hi.name)
	}
	r, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return nil, fmt.Errorf("vspherehv: create %q: task returned %T, not a VM: %w", img.Name, info.Result, hypervisor.ErrBadImage)
	}
	return object.NewVirtualMachine(h.vc, r), nil
}
