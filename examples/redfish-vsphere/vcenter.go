package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// vcenter is govmomi's vCenter simulator in-process on 127.0.0.1 with TLS:
// one datacenter, one cluster of two ESXi hosts sharing datastore
// LocalDS_0. The program's own admin session builds the VMs; the blades'
// adapters log in with their own sessions.
type vcenter struct {
	model *simulator.Model
	srv   *simulator.Server
	url   string
	roots *x509.CertPool
	admin *govmomi.Client
}

const (
	vcUser = "administrator@vsphere.local"
	vcPass = "vc-Secret1" // the simulator's; never printed
	vcDS   = "LocalDS_0"
)

func startVCenter(ctx context.Context) (*vcenter, error) {
	m := simulator.VPX()
	m.Host, m.ClusterHost, m.Machine = 0, 2, 0
	if err := m.Create(); err != nil {
		return nil, fmt.Errorf("vCenter simulator: %w", err)
	}
	m.Service.TLS = new(tls.Config)
	m.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(vcUser, vcPass)}
	srv := m.Service.NewServer()
	vc := &vcenter{model: m, srv: srv, roots: x509.NewCertPool()}
	vc.roots.AddCert(srv.Certificate())
	u := *srv.URL
	u.User = nil
	vc.url = u.String()
	au := *srv.URL
	au.User = url.UserPassword(vcUser, vcPass)
	admin, err := govmomi.NewClient(ctx, &au, true) // the program's own back door into its simulator
	if err != nil {
		vc.close()
		return nil, fmt.Errorf("vCenter simulator admin login: %w", err)
	}
	vc.admin = admin
	return vc, nil
}

func (vc *vcenter) close() {
	if vc.admin != nil {
		_ = vc.admin.Logout(context.Background())
	}
	vc.srv.Close()
	vc.model.Remove()
}

func (vc *vcenter) host(name string) (*simulator.HostSystem, error) {
	for _, e := range vc.model.Map().All("HostSystem") {
		if h := e.(*simulator.HostSystem); h.Name == name {
			return h, nil
		}
	}
	return nil, fmt.Errorf("no host %q in the vCenter simulator", name)
}

// sizeHost gives a host memMiB of memory and threads logical CPUs.
func (vc *vcenter) sizeHost(name string, memMiB int64, threads int16) error {
	h, err := vc.host(name)
	if err != nil {
		return err
	}
	hw := *h.Summary.Hardware
	hw.MemorySize, hw.NumCpuThreads = memMiB<<20, threads
	vc.model.Service.Context.Map.AtomicUpdate(vc.model.Service.Context, h, []types.PropertyChange{{Name: "summary.hardware", Val: &hw}})
	return nil
}

// setHostUp writes what vCenter sees of a host's power into the model: a
// host whose blade lost power is not responding and powered off (its VMs
// keep the state vCenter last saw), one that came back is connected.
func (vc *vcenter) setHostUp(name string, up bool) error {
	h, err := vc.host(name)
	if err != nil {
		return err
	}
	conn, power := types.HostSystemConnectionStateNotResponding, types.HostSystemPowerStatePoweredOff
	if up {
		conn, power = types.HostSystemConnectionStateConnected, types.HostSystemPowerStatePoweredOn
	}
	vc.model.Service.Context.Map.AtomicUpdate(vc.model.Service.Context, h, []types.PropertyChange{
		{Name: "runtime.connectionState", Val: conn},
		{Name: "runtime.powerState", Val: power},
		{Name: "summary.runtime.connectionState", Val: conn},
		{Name: "summary.runtime.powerState", Val: power},
	})
	return nil
}

// createVMs makes n running VMs called prefix-vm1.. on host, with their
// files on the shared datastore.
func (vc *vcenter) createVMs(ctx context.Context, host, prefix string, n int) error {
	f := find.NewFinder(vc.admin.Client)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	f.SetDatacenter(dc)
	hs, err := f.HostSystem(ctx, host)
	if err != nil {
		return err
	}
	pool, err := hs.ResourcePool(ctx)
	if err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		spec := types.VirtualMachineConfigSpec{
			Name: fmt.Sprintf("%s-vm%d", prefix, i), GuestId: "otherGuest64", MemoryMB: 512, NumCPUs: 1,
			Files: &types.VirtualMachineFileInfo{VmPathName: "[" + vcDS + "]"},
		}
		t, err := folders.VmFolder.CreateVM(ctx, spec, pool, hs)
		if err != nil {
			return err
		}
		info, err := t.WaitForResult(ctx)
		if err != nil {
			return fmt.Errorf("create %s: %w", spec.Name, err)
		}
		vm := object.NewVirtualMachine(vc.admin.Client, info.Result.(types.ManagedObjectReference))
		pt, err := vm.PowerOn(ctx)
		if err != nil {
			return err
		}
		if err := pt.Wait(ctx); err != nil {
			return fmt.Errorf("power on %s: %w", spec.Name, err)
		}
	}
	return nil
}
