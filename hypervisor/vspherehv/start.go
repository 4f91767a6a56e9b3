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
	"github.com/rackha/failover/imagestore"
)

// Start runs img on this host: it removes a stale copy from a host that is
// down, registers the .vmx (or creates the VM) on this host's resource pool
// and powers it on. See the package doc for the image format and the rules
// about stale copies.
func (h *Hypervisor) Start(ctx context.Context, img imagestore.Image) error {
	if img.Name == "" {
		return fmt.Errorf("vspherehv: start: image has no name: %w", hypervisor.ErrBadImage)
	}
	unlock := h.names.lock(img.Name)
	defer unlock()

	// The host first: an unreachable or down host is the answer whatever
	// the image holds.
	hi, err := h.self(ctx)
	if err != nil {
		return err
	}
	if err := requireUp(hi, fmt.Sprintf("start %q", img.Name)); err != nil {
		return err
	}
	def, err := imageDefinition(img, h.cfg.Datastores)
	if err != nil {
		return err
	}
	found, err := h.matching(ctx, img.Name, def.vmx)
	if err != nil {
		return err
	}
	if img.Checkpoint != "" {
		if err := checkSuspended(img, found, hi); err != nil {
			return err
		}
	}
	vmx := def.vmx
	for _, v := range found {
		if v.name != img.Name {
			return fmt.Errorf("vspherehv: start %q: its .vmx %s is registered as another VM %q: %w", img.Name, v.vmx, v.name, hypervisor.ErrNameTaken)
		}
		if def.vmx != "" && !sameDatastorePath(v.vmx, def.vmx) {
			return fmt.Errorf("vspherehv: start %q: a VM of that name is registered from %s, not %s: %w", img.Name, v.vmx, def.vmx, hypervisor.ErrNameTaken)
		}
		if v.host == hi.ref {
			if v.power == types.VirtualMachinePowerStatePoweredOn {
				return fmt.Errorf("vspherehv: start %q: already powered on on host %q: %w", v.name, hi.name, hypervisor.ErrAlreadyRunning)
			}
			if err := h.checkFits(ctx, img, hi); err != nil {
				return err
			}
			if err := h.checkFiles(ctx, v.ref, img.Name); err != nil {
				return err
			}
			return h.powerOn(ctx, object.NewVirtualMachine(h.vc, v.ref), v.name, hi)
		}
		if err := h.removeStale(ctx, v); err != nil {
			return err
		}
		if vmx == "" {
			vmx = v.vmx // create form: reuse the files the stale copy left
		}
	}
	if err := h.checkFits(ctx, img, hi); err != nil {
		return err
	}
	var vm *object.VirtualMachine
	if vmx != "" {
		if err := checkDatastore(datastoreOf(vmx), fmt.Sprintf("vspherehv: start %q: .vmx %q", img.Name, vmx), h.cfg.Datastores); err != nil {
			return err
		}
		if vm, err = h.register(ctx, img.Name, vmx, hi); err != nil {
			return err
		}
		if err := h.checkFiles(ctx, vm.Reference(), img.Name); err != nil {
			if uerr := vm.Unregister(ctx); uerr != nil {
				return errors.Join(err, wrap(uerr, hypervisor.ErrUnreachable, "unregister refused %q", img.Name))
			}
			return err
		}
	} else if vm, err = h.create(ctx, img, def.create, hi); err != nil {
		return err
	}
	return h.powerOn(ctx, vm, img.Name, hi)
}

// checkFiles refuses a registered VM whose devices (disks and their
// parents, CD and floppy images, serial port files) name a file outside
// Config.Datastores or outside its datastore: the .vmx is the image's,
// not the operator's.
func (h *Hypervisor) checkFiles(ctx context.Context, vm ref, name string) error {
	var m mo.VirtualMachine
	if err := property.DefaultCollector(h.vc).RetrieveOne(ctx, vm, []string{"config.hardware.device"}, &m); err != nil {
		return wrap(err, hypervisor.ErrUnreachable, "start %q: read devices", name)
	}
	if m.Config == nil {
		return nil
	}
	for _, d := range m.Config.Hardware.Device {
		var files []string
		if b, ok := d.GetVirtualDevice().Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			files = append(files, b.GetVirtualDeviceFileBackingInfo().FileName)
		}
		if b, ok := d.GetVirtualDevice().Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
			for p := b.Parent; p != nil; p = p.Parent {
				files = append(files, p.FileName)
			}
		}
		for _, f := range files {
			var p object.DatastorePath
			if f == "" {
				continue
			}
			if !p.FromString(f) || !relativeInside(p.Path) {
				return fmt.Errorf("vspherehv: start %q: its .vmx attaches %q, not a path inside a datastore: %w", name, f, hypervisor.ErrBadImage)
			}
			if err := checkDatastore(p.Datastore, fmt.Sprintf("vspherehv: start %q: its .vmx attaches %q", name, f), h.cfg.Datastores); err != nil {
				return err
			}
		}
	}
	return nil
}

// imageDefinition parses and checks img's definition, disks and
// checkpoint, and that each names one of the datastores. A checkpoint
// turns the create form into the register form: the suspended VM's own
// .vmx is registered.
func imageDefinition(img imagestore.Image, datastores []string) (definition, error) {
	def, err := parseDefinition(img.Definition)
	if err != nil {
		return def, fmt.Errorf("vspherehv: start %q: %w", img.Name, err)
	}
	if def.create != nil {
		if err := checkDatastore(def.create.Datastore, "create form", datastores); err != nil {
			return def, fmt.Errorf("vspherehv: start %q: %w", img.Name, err)
		}
		for _, d := range img.Disks {
			if err := checkDiskPath(d); err != nil {
				return def, fmt.Errorf("vspherehv: start %q: %w", img.Name, err)
			}
			if err := checkDatastore(datastoreOf(d), fmt.Sprintf("disk %q", d), datastores); err != nil {
				return def, fmt.Errorf("vspherehv: start %q: %w", img.Name, err)
			}
		}
	} else if err := checkDatastore(datastoreOf(def.vmx), fmt.Sprintf("definition %q", def.vmx), datastores); err != nil {
		return def, fmt.Errorf("vspherehv: start %q: %w", img.Name, err)
	}
	if img.Checkpoint == "" {
		return def, nil
	}
	if img.Generation != img.CheckpointGeneration+1 {
		return def, fmt.Errorf("vspherehv: start %q: checkpoint %q was recorded at generation %d, so only generation %d may resume it, not %d: %w",
			img.Name, img.Checkpoint, img.CheckpointGeneration, img.CheckpointGeneration+1, img.Generation, hypervisor.ErrBadImage)
	}
	if err := checkVMXPath(img.Checkpoint); err != nil {
		return def, fmt.Errorf("vspherehv: start %q: checkpoint: %w", img.Name, err)
	}
	if err := checkDatastore(datastoreOf(img.Checkpoint), fmt.Sprintf("checkpoint %q", img.Checkpoint), datastores); err != nil {
		return def, fmt.Errorf("vspherehv: start %q: %w", img.Name, err)
	}
	if def.vmx != "" && !sameDatastorePath(img.Checkpoint, def.vmx) {
		return def, fmt.Errorf("vspherehv: start %q: checkpoint %q is not this image's .vmx %q (vSphere resumes a suspended VM from its own .vmx): %w",
			img.Name, img.Checkpoint, def.vmx, hypervisor.ErrBadImage)
	}
	return definition{vmx: img.Checkpoint}, nil
}

// checkSuspended makes sure a resume finds its checkpoint unused: the VM
// registered from it, suspended. Powering a suspended VM on resumes it and
// consumes its suspended state (the .vmss), so once it ran the checkpoint
// is gone, and powering on again would boot it cold while the caller
// believes it resumed. A copy powered on here is left to the
// ErrAlreadyRunning answer (a retry of a resume that worked).
func checkSuspended(img imagestore.Image, found []vmInfo, hi hostInfo) error {
	for _, v := range found {
		if v.host == hi.ref && v.power == types.VirtualMachinePowerStatePoweredOn {
			return nil
		}
	}
	for _, v := range found {
		if sameDatastorePath(v.vmx, img.Checkpoint) && v.power == types.VirtualMachinePowerStateSuspended {
			return nil
		}
	}
	for _, v := range found {
		if sameDatastorePath(v.vmx, img.Checkpoint) {
			return fmt.Errorf("vspherehv: start %q: checkpoint %q: the VM registered from it is %s, not suspended: its suspended state was used by an earlier power-on (resumed already): %w",
				img.Name, img.Checkpoint, v.power, hypervisor.ErrBadImage)
		}
	}
	return fmt.Errorf("vspherehv: start %q: checkpoint %q: no suspended VM is registered from it (vSphere resumes the suspended VM its checkpoint left): %w",
		img.Name, img.Checkpoint, hypervisor.ErrBadImage)
}

// removeStale takes a copy of the VM off another host. A copy that runs on
// a host that is up is refused; a copy on a host that is down (fenced by
// the caller) is powered off in the inventory if needed and unregistered.
func (h *Hypervisor) removeStale(ctx context.Context, v vmInfo) error {
	other := hostInfo{name: v.host.Value}
	hostDown := "host unknown to vCenter"
	if v.host.Value != "" {
		var err error
		if other, err = h.hostInfo(ctx, v.host); err != nil {
			return err
		}
		hostDown = other.down()
	}
	if v.power == types.VirtualMachinePowerStatePoweredOn && hostDown == "" {
		var err error
		if other, v, err = h.awaitStale(ctx, v); err != nil {
			return err
		}
		hostDown = other.down()
	}
	vm := object.NewVirtualMachine(h.vc, v.ref)
	if v.power == types.VirtualMachinePowerStatePoweredOn {
		h.log.LogAttrs(ctx, slog.LevelInfo, "vspherehv: powering off stale copy in inventory",
			attr("vm", v.name), attr("host", other.name), attr("reason", hostDown))
		if _, err := h.run(ctx, vm.PowerOff); err != nil && !alreadyOff(err) {
			return wrap(err, hypervisor.ErrHostDown, "power off stale copy of %q on down host %q", v.name, other.name)
		}
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "vspherehv: unregistering stale copy",
		attr("vm", v.name), attr("host", other.name), attr("power", string(v.power)))
	if err := vm.Unregister(ctx); err != nil {
		return wrap(err, hypervisor.ErrUnreachable, "unregister stale copy of %q on host %q", v.name, other.name)
	}
	return nil
}

// awaitStale waits, up to Config.StaleHostWait, for vCenter to see that the
// host of a copy reported running has gone (the caller fenced it; vCenter
// notices a lost host only after its heartbeat times out), or for the copy
// to stop. It returns the host and VM as last read, or refuses.
func (h *Hypervisor) awaitStale(ctx context.Context, v vmInfo) (hostInfo, vmInfo, error) {
	begin := time.Now()
	for {
		hi, err := h.hostInfo(ctx, v.host)
		if err != nil {
			return hi, v, err
		}
		if hi.down() != "" {
			return hi, v, nil
		}
		vs, err := h.vms(ctx, []ref{v.ref})
		if err != nil {
			return hi, v, err
		}
		if len(vs) == 1 && vs[0].power != types.VirtualMachinePowerStatePoweredOn {
			return hi, vs[0], nil
		}
		waited := time.Since(begin)
		if waited >= h.cfg.StaleHostWait {
			// Not ErrAlreadyRunning: that means "runs here", and callers
			// take it as success.
			return hi, v, fmt.Errorf("vspherehv: start %q: it runs on host %q, which vCenter still reports up after %v: stop or fence it first: %w",
				v.name, hi.name, waited.Round(time.Millisecond), hypervisor.ErrNameTaken)
		}
		select {
		case <-ctx.Done():
			return hi, v, fmt.Errorf("vspherehv: start %q: gave up waiting for vCenter to see host %q down: %w: %w",
				v.name, hi.name, hypervisor.ErrNameTaken, ctx.Err())
		case <-time.After(min(h.cfg.PollInterval, h.cfg.StaleHostWait-waited)):
		}
	}
}

// checkFits refuses an image larger than the host's free capacity.
func (h *Hypervisor) checkFits(ctx context.Context, img imagestore.Image, hi hostInfo) error {
	if !h.cfg.CheckCapacity || (img.MemoryMiB == 0 && img.CPUs == 0) {
		return nil
	}
	free, err := h.free(ctx, hi)
	if err != nil {
		return err
	}
	need := hypervisor.Capacity{MemoryMiB: img.MemoryMiB, CPUs: img.CPUs}
	if !free.Fits(need) {
		return fmt.Errorf("vspherehv: start %q on host %q: needs %v, free %v: %w", img.Name, hi.name, need, free, hypervisor.ErrNoCapacity)
	}
	return nil
}

// register adds vmx to the inventory on this host's pool.
func (h *Hypervisor) register(ctx context.Context, name, vmx string, hi hostInfo) (*object.VirtualMachine, error) {
	info, err := h.run(ctx, func(ctx context.Context) (*object.Task, error) {
		return h.folder.RegisterVM(ctx, vmx, name, false, h.pool, h.host)
	})
	if err != nil {
		return nil, wrap(err, hypervisor.ErrBadImage, "register %s as %q on host %q", vmx, name, hi.name)
	}
	r, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return nil, fmt.Errorf("vspherehv: register %s as %q: task returned %T, not a VM: %w", vmx, name, info.Result, hypervisor.ErrBadImage)
	}
	return object.NewVirtualMachine(h.vc, r), nil
}

// powerOn powers vm on (it is registered on this host's pool).
func (h *Hypervisor) powerOn(ctx context.Context, vm *object.VirtualMachine, name string, hi hostInfo) error {
	_, err := h.run(ctx, vm.PowerOn)
	if err != nil {
		return wrap(err, hypervisor.ErrUnreachable, "power on %q on host %q", name, hi.name)
	}
	return nil
}

func alreadyOff(err error) bool {
	f, ok := faultOf(err).(*types.InvalidPowerState)
	return ok && f.ExistingState == types.VirtualMachinePowerStatePoweredOff
}
