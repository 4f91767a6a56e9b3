package vspherehv

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/rackha/failover/hypervisor"
)

// vmInfo is what the adapter reads about one VM.
type vmInfo struct {
	ref      ref
	name     string
	host     ref // zero when vCenter does not say
	power    types.VirtualMachinePowerState
	vmx      string
	memMiB   int64
	cpus     int
	template bool
}

var vmProps = []string{
	"name", "runtime.host", "runtime.powerState",
	"config.files.vmPathName", "config.hardware.memoryMB", "config.hardware.numCPU", "config.template",
}

func toVMInfo(m mo.VirtualMachine) vmInfo {
	v := vmInfo{ref: m.Self, name: m.Name, power: m.Runtime.PowerState}
	if m.Runtime.Host != nil {
		v.host = *m.Runtime.Host
	}
	if m.Config != nil {
		v.vmx = m.Config.Files.VmPathName
		v.memMiB = int64(m.Config.Hardware.MemoryMB)
		v.cpus = int(m.Config.Hardware.NumCPU)
		v.template = m.Config.Template
	}
	return v
}

// hostInfo is what the adapter reads about one host.
type hostInfo struct {
	ref         ref
	name        string
	conn        types.HostSystemConnectionState
	power       types.HostSystemPowerState
	maintenance bool
	memMiB      int64
	threads     int
	vms         []ref
}

var hostProps = []string{"name", "runtime", "summary.hardware", "vm"}

// down explains why a host cannot run VMs, or returns "".
func (hi hostInfo) down() string {
	switch {
	case hi.conn != types.HostSystemConnectionStateConnected:
		return fmt.Sprintf("connection state is %q", hi.conn)
	case hi.power != types.HostSystemPowerStatePoweredOn:
		return fmt.Sprintf("power state is %q", hi.power)
	case hi.maintenance:
		return "in maintenance mode"
	}
	return ""
}

func (h *Hypervisor) hostInfo(ctx context.Context, r ref) (hostInfo, error) {
	var m mo.HostSystem
	if err := property.DefaultCollector(h.vc).RetrieveOne(ctx, r, hostProps, &m); err != nil {
		return hostInfo{}, wrap(err, hypervisor.ErrUnreachable, "read host %s", r.Value)
	}
	hi := hostInfo{ref: m.Self, name: m.Name, conn: m.Runtime.ConnectionState, power: m.Runtime.PowerState,
		maintenance: m.Runtime.InMaintenanceMode, vms: m.Vm}
	if hw := m.Summary.Hardware; hw != nil {
		hi.memMiB = hw.MemorySize / (1 << 20)
		hi.threads = int(hw.NumCpuThreads)
	}
	return hi, nil
}

// self reads this hypervisor's host.
func (h *Hypervisor) self(ctx context.Context) (hostInfo, error) {
	return h.hostInfo(ctx, h.host.Reference())
}

// requireUp returns an ErrHostDown error when hi cannot run VMs.
func requireUp(hi hostInfo, op string) error {
	if why := hi.down(); why != "" {
		return fmt.Errorf("vspherehv: %s: host %q is down (%s): %w", op, hi.name, why, hypervisor.ErrHostDown)
	}
	return nil
}

// vms reads the given VMs, skipping templates.
func (h *Hypervisor) vms(ctx context.Context, refs []ref) ([]vmInfo, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	var ms []mo.VirtualMachine
	if err := property.DefaultCollector(h.vc).Retrieve(ctx, refs, vmProps, &ms); err != nil {
		return nil, wrap(err, hypervisor.ErrUnreachable, "read %d VMs", len(refs))
	}
	out := make([]vmInfo, 0, len(ms))
	for _, m := range ms {
		if v := toVMInfo(m); !v.template {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b vmInfo) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// onHost reads this host and the VMs registered on it.
func (h *Hypervisor) onHost(ctx context.Context) (hostInfo, []vmInfo, error) {
	hi, err := h.self(ctx)
	if err != nil {
		return hi, nil, err
	}
	vs, err := h.vms(ctx, hi.vms)
	return hi, vs, err
}

// findHere returns the VM called name on this host.
func (h *Hypervisor) findHere(ctx context.Context, name string) (vmInfo, hostInfo, error) {
	hi, vs, err := h.onHost(ctx)
	if err != nil {
		return vmInfo{}, hi, err
	}
	for _, v := range vs {
		if v.name == name {
			return v, hi, nil
		}
	}
	return vmInfo{}, hi, fmt.Errorf("vspherehv: VM %q is not on host %q: %w", name, hi.name, hypervisor.ErrNotFound)
}

// matching returns the VMs that could be a copy of the image: the VM
// registered from vmx (when set), found through the datacenter's search
// index wherever it sits, and the VM called name in the datacenter's root
// VM folder, where Start registers and creates VMs. Two calls whatever the
// inventory's size. A same-named VM an administrator moved to a subfolder
// is not seen; registering its .vmx again then fails in vCenter
// (AlreadyExists) or creating its files does (FileAlreadyExists), so Start
// refuses rather than run a second copy.
func (h *Hypervisor) matching(ctx context.Context, name, vmx string) ([]vmInfo, error) {
	si := object.NewSearchIndex(h.vc)
	var refs []ref
	if vmx != "" {
		r, err := si.FindByDatastorePath(ctx, h.dc, vmx)
		if err != nil {
			return nil, wrap(err, hypervisor.ErrUnreachable, "look up %s", vmx)
		}
		if r != nil {
			refs = append(refs, r.Reference())
		}
	}
	r, err := si.FindChild(ctx, h.folder, name)
	if err != nil {
		return nil, wrap(err, hypervisor.ErrUnreachable, "look up VM %q", name)
	}
	if r != nil && r.Reference().Type == "VirtualMachine" && !slices.Contains(refs, r.Reference()) {
		refs = append(refs, r.Reference())
	}
	return h.vms(ctx, refs)
}
