package vspherehv

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

const otherDS = "LocalDS_1" // mounted on every host, not in Config.Datastores

func twoDatastores(t *testing.T) *sim {
	t.Helper()
	s := newSimModel(t, func(m *simulator.Model) { m.Datastore = 2 }, nil)
	s.sizeHost(t, hostB, 64<<10, 32)
	return s
}

// A stored image names only listed datastores, and paths inside them by
// the .vmx rules: each refusal wraps ErrBadImage and names the path.
func TestStartRefusesOutsideDatastores(t *testing.T) {
	s := twoDatastores(t)
	b := s.hv(t, hostB)
	s.createDisk(t, "["+otherDS+"] shared/data.vmdk", 1024)
	s.createDisk(t, "["+simDS+"] shared/ok.vmdk", 1024)
	create := func(ds string, disks ...string) imagestore.Image {
		return imagestore.Image{Name: "x", Owner: hostB, Generation: 1, MemoryMiB: 64, CPUs: 1,
			Definition: []byte(`{"guestId":"otherGuest64","datastore":"` + ds + `"}`), Disks: disks}
	}
	withCkpt := create(simDS)
	withCkpt.Checkpoint, withCkpt.CheckpointGeneration = "["+otherDS+"] x/x.vmx", 0
	for _, tc := range []struct {
		name string
		img  imagestore.Image
		says string
	}{
		{"register form on another datastore", imagestore.Image{Name: "x", Definition: []byte("[" + otherDS + "] x/x.vmx")}, `definition "[LocalDS_1] x/x.vmx": datastore "LocalDS_1" is not one of Config.Datastores ["LocalDS_0"]`},
		{"create form on another datastore", create(otherDS), `create form: datastore "LocalDS_1" is not one of Config.Datastores`},
		{"disk on another datastore", create(simDS, "["+otherDS+"] shared/data.vmdk"), `disk "[LocalDS_1] shared/data.vmdk": datastore "LocalDS_1" is not one of`},
		{"disk climbing out with ..", create(simDS, "["+simDS+"] ../"+otherDS+"/shared/data.vmdk"), `disk "[LocalDS_0] ../LocalDS_1/shared/data.vmdk" has an absolute path or ".."`},
		{"disk with .. inside", create(simDS, "["+simDS+"] shared/../../x.vmdk"), `has an absolute path or ".."`},
		{"absolute disk path", create(simDS, "["+simDS+"] /vmfs/volumes/"+otherDS+"/shared/data.vmdk"), `disk "[LocalDS_0] /vmfs/volumes/LocalDS_1/shared/data.vmdk" has an absolute path`},
		{"disk with a backslash", create(simDS, "["+simDS+`] shared\..\..\x.vmdk`), `has an absolute path or ".."`},
		{"disk without a datastore", create(simDS, "/vmfs/volumes/x.vmdk"), "is not a datastore path"},
		{"checkpoint on another datastore", withCkpt, `checkpoint "[LocalDS_1] x/x.vmx": datastore "LocalDS_1" is not one of`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.Start(ctxT(t), tc.img)
			if !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Start = %v\nwant ErrBadImage saying %s", err, tc.says)
			}
		})
	}
	if got := s.where(t); len(got) != 0 {
		t.Errorf("refused images left VMs behind: %v", got)
	}
	// The allowed form still starts.
	if err := b.Start(ctxT(t), create(simDS, "["+simDS+"] shared/ok.vmdk")); err != nil {
		t.Fatalf("Start of a create form inside LocalDS_0: %v", err)
	}
}

// A .vmx on a listed datastore that attaches a disk on another is
// refused before it powers on, and left as it was found.
func TestStartRefusesVMXReachingOut(t *testing.T) {
	s := twoDatastores(t)
	b := s.hv(t, hostB)
	s.createDisk(t, "["+otherDS+"] other/data.vmdk", 1024)
	vmx := s.createVMWithDisk(t, hostB, "evil", "["+otherDS+"] other/data.vmdk")
	img := imagestore.Image{Name: "evil", Owner: hostB, Generation: 1, Definition: []byte(vmx)}
	err := b.Start(ctxT(t), img)
	if !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), `its .vmx attaches "[LocalDS_1] other/data.vmdk": datastore "LocalDS_1" is not one of Config.Datastores`) {
		t.Fatalf("Start of a registered .vmx with a disk on LocalDS_1 = %v", err)
	}
	if diff := cmp.Diff(map[string]string{"evil": hostB + "/poweredOff"}, s.where(t)); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
	// A .vmx registered afresh goes through the same check before its
	// power-on (and is unregistered when refused); vcsim does not read
	// devices out of a .vmx it registers, so that path is not shown here.
}

// createVMWithDisk makes a powered-off VM on host whose .vmx lies on the
// simulator's first datastore and which attaches the existing disk.
func (s *sim) createVMWithDisk(t testing.TB, host, name, disk string) string {
	t.Helper()
	ctx := ctxT(t)
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
	var devices object.VirtualDeviceList
	ctrl, err := devices.CreateSCSIController("lsilogic")
	if err != nil {
		t.Fatal(err)
	}
	devices = append(devices, ctrl)
	devices = append(devices, devices.CreateDisk(ctrl.(types.BaseVirtualController), types.ManagedObjectReference{}, disk))
	add, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		t.Fatal(err)
	}
	spec := types.VirtualMachineConfigSpec{
		Name: name, GuestId: "otherGuest64", MemoryMB: 64, NumCPUs: 1, DeviceChange: add,
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
	var m mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"config.files.vmPathName"}, &m); err != nil {
		t.Fatal(err)
	}
	return m.Config.Files.VmPathName
}
