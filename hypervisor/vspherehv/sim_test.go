package vspherehv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	pathpkg "path"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	simUser = "admin"
	simPass = "s3cret-pw-never-logged"
	hostA   = "DC0_C0_H0"
	hostB   = "DC0_C0_H1"
	simDS   = "LocalDS_0"
)

// sim is govmomi's vCenter simulator in-process on loopback: one
// datacenter, one cluster of two hosts, one shared datastore, no VMs.
type sim struct {
	model *simulator.Model
	srv   *simulator.Server
	url   string
	admin *govmomi.Client // the test's own view, to build and check the model
	roots *x509.CertPool
}

func newSim(t testing.TB) *sim { t.Helper(); return newSimWith(t, nil) }

// newSimWith lets a test change the model (say, method delays) before the
// server starts.
func newSimWith(t testing.TB, edit func(*simulator.Model)) *sim {
	t.Helper()
	return newSimModel(t, nil, edit)
}

// newSimModel also lets a test shape the model before it is created (say,
// more datastores).
func newSimModel(t testing.TB, shape, edit func(*simulator.Model)) *sim {
	t.Helper()
	m := simulator.VPX()
	m.Host = 0
	m.ClusterHost = 2
	m.Machine = 0
	if shape != nil {
		shape(m)
	}
	if err := m.Create(); err != nil {
		t.Fatalf("simulator model: %v", err)
	}
	if edit != nil {
		edit(m)
	}
	m.Service.TLS = new(tls.Config)
	m.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(simUser, simPass)}
	srv := m.Service.NewServer()
	u := *srv.URL
	u.User = nil
	s := &sim{model: m, srv: srv, url: u.String(), roots: x509.NewCertPool()}
	s.roots.AddCert(srv.Certificate())
	t.Cleanup(func() {
		srv.Close()
		m.Remove()
	})
	au := *srv.URL
	au.User = url.UserPassword(simUser, simPass)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := govmomi.NewClient(ctx, &au, true)
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	s.admin = admin
	return s
}

// config returns a Config for host that trusts the simulator's certificate.
func (s *sim) config(host string) Config {
	c := DefaultConfig(s.url, host)
	c.Username, c.Password = simUser, simPass
	c.RootCAs = s.roots
	c.Datastores = []string{simDS}
	c.ShutdownTimeout = 2 * time.Second
	c.StaleHostWait = 300 * time.Millisecond
	c.ForceReserve = 100 * time.Millisecond
	c.PollInterval = 10 * time.Millisecond
	return c
}

func (s *sim) hv(t testing.TB, host string) *Hypervisor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := New(ctx, s.config(host))
	if err != nil {
		t.Fatalf("New(%s): %v", host, err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func (s *sim) finder(t testing.TB) *find.Finder {
	t.Helper()
	f := find.NewFinder(s.admin.Client)
	dc, err := f.DefaultDatacenter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	return f
}

// hostObj returns the simulator's own object for a host.
func (s *sim) hostObj(t testing.TB, name string) *simulator.HostSystem {
	t.Helper()
	for _, e := range s.model.Map().All("HostSystem") {
		if h := e.(*simulator.HostSystem); h.Name == name {
			return h
		}
	}
	t.Fatalf("no host %q in the model", name)
	return nil
}

// failHost writes a host failure into the model, the way vCenter sees a
// fenced server: not responding, powered off. Its VMs keep the power state
// vCenter last saw.
func (s *sim) failHost(t testing.TB, name string) {
	t.Helper()
	h := s.hostObj(t, name)
	s.model.Service.Context.Map.AtomicUpdate(s.model.Service.Context, h, []types.PropertyChange{
		{Name: "runtime.connectionState", Val: types.HostSystemConnectionStateNotResponding},
		{Name: "runtime.powerState", Val: types.HostSystemPowerStatePoweredOff},
		{Name: "summary.runtime.connectionState", Val: types.HostSystemConnectionStateNotResponding},
		{Name: "summary.runtime.powerState", Val: types.HostSystemPowerStatePoweredOff},
	})
}

// maintenance puts a host into maintenance mode in the model.
func (s *sim) maintenance(t testing.TB, name string) {
	t.Helper()
	h := s.hostObj(t, name)
	s.model.Service.Context.Map.AtomicUpdate(s.model.Service.Context, h, []types.PropertyChange{
		{Name: "runtime.inMaintenanceMode", Val: true},
	})
}

// createVM makes a powered-on VM on host with the test's own client and
// returns its .vmx path.
func (s *sim) createVM(t testing.TB, host, name string, memMiB int64, cpus int32) string {
	t.Helper()
	ctx := context.Background()
	f := s.finder(t)
	hs, err := f.HostSystem(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := hs.ResourcePool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	folder, err := f.DefaultFolder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := types.VirtualMachineConfigSpec{
		Name: name, GuestId: "otherGuest64", MemoryMB: memMiB, NumCPUs: cpus,
		Files: &types.VirtualMachineFileInfo{VmPathName: "[" + simDS + "]"},
	}
	task, err := folder.CreateVM(ctx, spec, pool, hs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	vm := object.NewVirtualMachine(s.admin.Client, info.Result.(types.ManagedObjectReference))
	pt, err := vm.PowerOn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pt.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"config.files.vmPathName"}, &m); err != nil {
		t.Fatal(err)
	}
	return m.Config.Files.VmPathName
}

// where returns, per VM name, the host name and power state the test's
// own client sees.
func (s *sim) where(t testing.TB) map[string]string {
	t.Helper()
	ctx := context.Background()
	vms, err := s.finder(t).VirtualMachineList(ctx, "*")
	if err != nil {
		if _, ok := err.(*find.NotFoundError); ok {
			return map[string]string{}
		}
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, vm := range vms {
		var m mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"name", "runtime"}, &m); err != nil {
			t.Fatal(err)
		}
		h := object.NewHostSystem(s.admin.Client, *m.Runtime.Host)
		hn, err := h.ObjectName(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out[m.Name] = hn + "/" + string(m.Runtime.PowerState)
	}
	return out
}

// sizeHost sets a host's memory and logical CPUs in the model.
func (s *sim) sizeHost(t testing.TB, name string, memMiB int64, threads int16) {
	t.Helper()
	h := s.hostObj(t, name)
	hw := *h.Summary.Hardware
	hw.MemorySize = memMiB << 20
	hw.NumCpuThreads = threads
	s.model.Service.Context.Map.AtomicUpdate(s.model.Service.Context, h, []types.PropertyChange{{Name: "summary.hardware", Val: &hw}})
}

// createDisk makes a virtual disk file of kib KiB on the datastore.
func (s *sim) createDisk(t testing.TB, path string, kib int64) {
	t.Helper()
	ctx := context.Background()
	dc, err := find.NewFinder(s.admin.Client).DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fm := object.NewFileManager(s.admin.Client)
	var p object.DatastorePath
	p.FromString(path)
	dir := object.DatastorePath{Datastore: p.Datastore, Path: pathpkg.Dir(p.Path)}
	if err := fm.MakeDirectory(ctx, dir.String(), dc, true); err != nil {
		t.Fatal(err)
	}
	spec := &types.FileBackedVirtualDiskSpec{
		VirtualDiskSpec: types.VirtualDiskSpec{DiskType: string(types.VirtualDiskTypeThin), AdapterType: string(types.VirtualDiskAdapterTypeLsiLogic)},
		CapacityKb:      kib,
	}
	task, err := object.NewVirtualDiskManager(s.admin.Client).CreateVirtualDisk(ctx, path, dc, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatalf("create disk %s: %v", path, err)
	}
}
