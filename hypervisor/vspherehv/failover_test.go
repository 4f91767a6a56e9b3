package vspherehv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// protect creates n running VMs on host A and captures their images.
func protect(t testing.TB, s *sim, a *Hypervisor, n int) []imagestore.Image {
	t.Helper()
	imgs := make([]imagestore.Image, n)
	for i := range imgs {
		name := fmt.Sprintf("vm%02d", i)
		s.createVM(t, hostA, name, 256, 1)
		img, err := a.Capture(ctxT(t), name)
		if err != nil {
			t.Fatalf("Capture(%s): %v", name, err)
		}
		imgs[i] = img
	}
	return imgs
}

// The scenario: VMs protected on host A, A fails (NotResponding and
// PoweredOff in the model, its VMs still "poweredOn" as vCenter last saw
// them), backups start on host B from the captured images.
func TestFailoverAToB(t *testing.T) {
	s := newSim(t)
	s.sizeHost(t, hostB, 64<<10, 32)
	a, b := s.hv(t, hostA), s.hv(t, hostB)
	imgs := protect(t, s, a, 3)

	if diff := cmp.Diff(imagestore.Image{
		Name: "vm00", Definition: []byte("[LocalDS_0] vm00/vm00.vmx"), Owner: hostA, MemoryMiB: 256, CPUs: 1,
	}, imgs[0]); diff != "" {
		t.Errorf("Capture (-want +got):\n%s", diff)
	}

	s.failHost(t, hostA)
	for _, img := range imgs {
		if err := b.Start(ctxT(t), img); err != nil {
			t.Fatalf("Start(%s) on B: %v", img.Name, err)
		}
	}
	want := map[string]string{
		"vm00": hostB + "/poweredOn", "vm01": hostB + "/poweredOn", "vm02": hostB + "/poweredOn",
	}
	if diff := cmp.Diff(want, s.where(t)); diff != "" {
		t.Errorf("inventory after failover (-want +got):\n%s", diff)
	}
	got, err := b.List(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	wantList := []hypervisor.VM{{Name: "vm00", State: hypervisor.StateRunning}, {Name: "vm01", State: hypervisor.StateRunning}, {Name: "vm02", State: hypervisor.StateRunning}}
	// vcsim does not read sizes out of a registered .vmx: compare names
	// and states only.
	if diff := cmp.Diff(wantList, got, cmp.FilterPath(func(p cmp.Path) bool {
		f := p.Last().String()
		return f == ".MemoryMiB" || f == ".CPUs"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("B.List (-want +got):\n%s", diff)
	}
	// A's copies are gone from the inventory, so A lists nothing.
	if got, err := a.List(ctxT(t)); err != nil || len(got) != 0 {
		t.Errorf("A.List after takeover = %v, %v; want empty", got, err)
	}
	// Starting again on B is refused and changes nothing.
	if err := b.Start(ctxT(t), imgs[0]); !errors.Is(err, hypervisor.ErrAlreadyRunning) {
		t.Errorf("second Start = %v; want ErrAlreadyRunning", err)
	}
}

func TestStartRefusesDownTarget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		breakB func(*sim, testing.TB)
		says   string
	}{
		{"not responding", func(s *sim, t testing.TB) { s.failHost(t, hostB) }, `connection state is "notResponding"`},
		{"maintenance", func(s *sim, t testing.TB) { s.maintenance(t, hostB) }, "maintenance mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			a, b := s.hv(t, hostA), s.hv(t, hostB)
			imgs := protect(t, s, a, 1)
			s.failHost(t, hostA)
			tc.breakB(s, t)
			err := b.Start(ctxT(t), imgs[0])
			if !errors.Is(err, hypervisor.ErrHostDown) {
				t.Fatalf("Start on down B = %v; want ErrHostDown", err)
			}
			if !strings.Contains(err.Error(), hostB) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q should name host %s and say %q", err, hostB, tc.says)
			}
			// Nothing moved: the stale copy is still registered on A.
			if diff := cmp.Diff(map[string]string{"vm00": hostA + "/poweredOn"}, s.where(t)); diff != "" {
				t.Errorf("inventory (-want +got):\n%s", diff)
			}
			if _, err := b.FreeCapacity(ctxT(t)); !errors.Is(err, hypervisor.ErrHostDown) {
				t.Errorf("FreeCapacity on down B = %v; want ErrHostDown", err)
			}
		})
	}
}

// vCenter still lists a failed host's VMs as powered on; State must not
// report them running (a watcher asks it before starting a backup).
func TestStateOfVMOnFailedHostIsUnknown(t *testing.T) {
	s := newSim(t)
	a := s.hv(t, hostA)
	imgs := protect(t, s, a, 1)
	if st, err := a.State(ctxT(t), imgs[0].Name); err != nil || st != hypervisor.StateRunning {
		t.Fatalf("State on live A = %v, %v; want running", st, err)
	}
	s.failHost(t, hostA)
	st, err := a.State(ctxT(t), imgs[0].Name)
	if !errors.Is(err, hypervisor.ErrHostDown) || st != hypervisor.StateUnknown {
		t.Errorf("State on failed A = %v, %v; want unknown and ErrHostDown", st, err)
	}
}

// A copy running on a host that is up is never unregistered.
func TestStartRefusesCopyRunningOnLiveHost(t *testing.T) {
	s := newSim(t)
	a, b := s.hv(t, hostA), s.hv(t, hostB)
	imgs := protect(t, s, a, 1)
	err := b.Start(ctxT(t), imgs[0])
	// Not ErrAlreadyRunning, which callers read as "runs here, success".
	if !errors.Is(err, hypervisor.ErrNameTaken) || errors.Is(err, hypervisor.ErrAlreadyRunning) || !strings.Contains(err.Error(), hostA) {
		t.Fatalf("Start while A runs it = %v; want ErrNameTaken naming %s", err, hostA)
	}
	if diff := cmp.Diff(map[string]string{"vm00": hostA + "/poweredOn"}, s.where(t)); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
}

// vCenter notices the fenced host only after a while: Start waits for it.
func TestStartWaitsForVCenterToSeeFence(t *testing.T) {
	s := newSim(t)
	s.sizeHost(t, hostB, 64<<10, 32)
	a := s.hv(t, hostA)
	c := s.config(hostB)
	c.StaleHostWait = 10 * time.Second
	b, err := New(ctxT(t), c)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	imgs := protect(t, s, a, 1)
	lag := 400 * time.Millisecond
	go func() { time.Sleep(lag); s.failHost(t, hostA) }()
	begin := time.Now()
	if err := b.Start(ctxT(t), imgs[0]); err != nil {
		t.Fatalf("Start while vCenter catches up: %v", err)
	}
	if took := time.Since(begin); took < lag {
		t.Errorf("Start returned after %v, before vCenter saw the fence (%v)", took, lag)
	}
	if diff := cmp.Diff(map[string]string{"vm00": hostB + "/poweredOn"}, s.where(t)); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
}

// Evacuation of a degraded but live host: suspend on A, resume on B.
func TestCheckpointEvacuation(t *testing.T) {
	s := newSim(t)
	a, b := s.hv(t, hostA), s.hv(t, hostB)
	s.sizeHost(t, hostB, 64<<10, 32)
	imgs := protect(t, s, a, 1)
	ref, err := a.Checkpoint(ctxT(t), "vm00")
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	if ref != "[LocalDS_0] vm00/vm00.vmx" {
		t.Errorf("checkpoint ref = %q", ref)
	}
	if st, err := a.State(ctxT(t), "vm00"); err != nil || st != hypervisor.StateStopped {
		t.Errorf("State on A after Checkpoint = %v, %v; want stopped", st, err)
	}
	if _, err := a.Checkpoint(ctxT(t), "vm00"); !errors.Is(err, hypervisor.ErrCheckpointFailed) {
		t.Errorf("second Checkpoint = %v; want ErrCheckpointFailed", err)
	}
	img := imgs[0]
	img.Checkpoint = ref
	img.CheckpointGeneration, img.Generation = 2, 4 // recorded at 2, claimed twice since
	if err := b.Start(ctxT(t), img); !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), "recorded at generation 2, so only generation 3 may resume it, not 4") {
		t.Fatalf("Start from a checkpoint two generations old = %v; want ErrBadImage naming both generations", err)
	}
	img.Generation = 3
	if err := b.Start(ctxT(t), img); err != nil {
		t.Fatalf("Start from checkpoint on B: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"vm00": hostB + "/poweredOn"}, s.where(t)); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
	// The power-on used the suspended state: after a stop, the same
	// checkpoint resumes nowhere.
	if err := b.Start(ctxT(t), img); !errors.Is(err, hypervisor.ErrAlreadyRunning) {
		t.Errorf("retry of the resume while it runs = %v; want ErrAlreadyRunning", err)
	}
	if err := b.Stop(ctxT(t), "vm00"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*Hypervisor{b, a} {
		if err := h.Start(ctxT(t), img); !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), "resumed already") {
			t.Errorf("second resume on %s = %v; want ErrBadImage saying resumed already", h.HostName(), err)
		}
	}
	if diff := cmp.Diff(map[string]string{"vm00": hostB + "/poweredOff"}, s.where(t)); diff != "" {
		t.Errorf("inventory after refused resumes (-want +got):\n%s", diff)
	}
	img.Checkpoint = "[LocalDS_0] other/other.vmx"
	if err := b.Start(ctxT(t), img); !errors.Is(err, hypervisor.ErrBadImage) {
		t.Errorf("Start with a foreign checkpoint = %v; want ErrBadImage", err)
	}
}

func TestStopAndState(t *testing.T) {
	s := newSim(t)
	a := s.hv(t, hostA)
	protect(t, s, a, 1)
	if st, err := a.State(ctxT(t), "vm00"); err != nil || st != hypervisor.StateRunning {
		t.Fatalf("State = %v, %v; want running", st, err)
	}
	if err := a.Stop(ctxT(t), "vm00"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st, err := a.State(ctxT(t), "vm00"); err != nil || st != hypervisor.StateStopped {
		t.Errorf("State after Stop = %v, %v; want stopped", st, err)
	}
	if err := a.Stop(ctxT(t), "vm00"); err != nil {
		t.Errorf("Stop of a stopped VM = %v; want nil", err)
	}
	if err := a.Stop(ctxT(t), "nope"); err != nil {
		t.Errorf("Stop of an unknown VM = %v; want nil", err)
	}
	if _, err := a.State(ctxT(t), "nope"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("State of an unknown VM = %v; want ErrNotFound", err)
	}
	// Start of the stopped VM on its own host powers it on again.
	img, err := a.Capture(ctxT(t), "vm00")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctxT(t), img); err != nil {
		t.Fatalf("Start of a stopped VM here: %v", err)
	}
	if st, _ := a.State(ctxT(t), "vm00"); st != hypervisor.StateRunning {
		t.Errorf("State after Start = %v; want running", st)
	}
}

// Stop with almost no time left skips the guest shutdown and powers off.
func TestStopNoTimeForGuestShutdown(t *testing.T) {
	s := newSim(t)
	a := s.hv(t, hostA)
	a.cfg.ForceReserve = time.Hour
	protect(t, s, a, 1)
	if err := a.Stop(ctxT(t), "vm00"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st, _ := a.State(ctxT(t), "vm00"); st != hypervisor.StateStopped {
		t.Errorf("State = %v; want stopped", st)
	}
}

func TestFreeCapacity(t *testing.T) {
	s := newSim(t)
	s.sizeHost(t, hostA, 8192, 8)
	a := s.hv(t, hostA)
	got, err := a.FreeCapacity(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hypervisor.Capacity{MemoryMiB: 8192, CPUs: 8}, got); diff != "" {
		t.Errorf("empty host (-want +got):\n%s", diff)
	}
	s.createVM(t, hostA, "big", 3000, 3)
	s.createVM(t, hostA, "small", 1000, 1)
	if err := a.Stop(ctxT(t), "small"); err != nil {
		t.Fatal(err)
	}
	got, err = a.FreeCapacity(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// Only the running VM counts.
	if diff := cmp.Diff(hypervisor.Capacity{MemoryMiB: 8192 - 3000, CPUs: 8 - 3}, got); diff != "" {
		t.Errorf("with one running VM (-want +got):\n%s", diff)
	}
}

func TestStartNoCapacity(t *testing.T) {
	s := newSim(t)
	s.sizeHost(t, hostB, 1024, 2)
	a, b := s.hv(t, hostA), s.hv(t, hostB)
	imgs := protect(t, s, a, 1)
	s.failHost(t, hostA)
	img := imgs[0]
	img.MemoryMiB = 4096
	err := b.Start(ctxT(t), img)
	if !errors.Is(err, hypervisor.ErrNoCapacity) || !strings.Contains(err.Error(), "4096 MiB") {
		t.Fatalf("Start too big = %v; want ErrNoCapacity naming 4096 MiB", err)
	}
}

func TestStartBadImages(t *testing.T) {
	s := newSim(t)
	b := s.hv(t, hostB)
	for _, tc := range []struct {
		name string
		img  imagestore.Image
		want error
	}{
		{"no name", imagestore.Image{Definition: []byte("[LocalDS_0] x/x.vmx")}, hypervisor.ErrBadImage},
		{"empty definition", imagestore.Image{Name: "x"}, hypervisor.ErrBadImage},
		{"not a vmx", imagestore.Image{Name: "x", Definition: []byte("[LocalDS_0] x/x.vmdk")}, hypervisor.ErrBadImage},
		{"no datastore", imagestore.Image{Name: "x", Definition: []byte("x/x.vmx")}, hypervisor.ErrBadImage},
		{"dotdot", imagestore.Image{Name: "x", Definition: []byte("[LocalDS_0] ../etc/x.vmx")}, hypervisor.ErrBadImage},
		{"broken JSON", imagestore.Image{Name: "x", Definition: []byte(`{"guestId": `)}, hypervisor.ErrBadImage},
		{"unknown JSON field", imagestore.Image{Name: "x", Definition: []byte(`{"guestId":"a","datastore":"b","x":1}`)}, hypervisor.ErrBadImage},
		{"create without size", imagestore.Image{Name: "x", Definition: []byte(`{"guestId":"otherGuest64","datastore":"LocalDS_0"}`)}, hypervisor.ErrBadImage},
		{"bad disk", imagestore.Image{Name: "x", Definition: []byte(`{"guestId":"otherGuest64","datastore":"LocalDS_0"}`), Disks: []string{"/etc/passwd"}, MemoryMiB: 64, CPUs: 1}, hypervisor.ErrBadImage},
		{"missing vmx", imagestore.Image{Name: "x", Definition: []byte("[LocalDS_0] nowhere/nowhere.vmx")}, hypervisor.ErrBadImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.Start(ctxT(t), tc.img)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start = %v; want %v", err, tc.want)
			}
		})
	}
	if got := s.where(t); len(got) != 0 {
		t.Errorf("bad images left VMs behind: %v", got)
	}
}

func TestStartNameTaken(t *testing.T) {
	s := newSim(t)
	a, b := s.hv(t, hostA), s.hv(t, hostB)
	protect(t, s, a, 1)
	s.createVM(t, hostB, "other", 256, 1)
	// Same name, different .vmx.
	err := b.Start(ctxT(t), imagestore.Image{Name: "vm00", Definition: []byte("[LocalDS_0] other/other.vmx")})
	if !errors.Is(err, hypervisor.ErrNameTaken) {
		t.Errorf("Start with a name used by another .vmx = %v; want ErrNameTaken", err)
	}
}

// The create form: a new VM from stored configuration with an existing disk.
func TestStartCreateForm(t *testing.T) {
	s := newSim(t)
	s.sizeHost(t, hostB, 64<<10, 32)
	b := s.hv(t, hostB)
	img := imagestore.Image{
		Name:       "fresh",
		Definition: []byte(`{"guestId": "otherGuest64", "datastore": "LocalDS_0"}`),
		Owner:      hostB, MemoryMiB: 512, CPUs: 2,
	}
	if err := b.Start(ctxT(t), img); err != nil {
		t.Fatalf("Start (create form): %v", err)
	}
	got, err := b.List(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]hypervisor.VM{{Name: "fresh", State: hypervisor.StateRunning, MemoryMiB: 512, CPUs: 2}}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	// Capture it, fail B, take it over on A from the captured register form.
	capt, err := b.Capture(ctxT(t), "fresh")
	if err != nil {
		t.Fatal(err)
	}
	a := s.hv(t, hostA)
	s.sizeHost(t, hostA, 64<<10, 32)
	s.failHost(t, hostB)
	if err := a.Start(ctxT(t), capt); err != nil {
		t.Fatalf("Start captured on A: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"fresh": hostA + "/poweredOn"}, s.where(t)); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
}
