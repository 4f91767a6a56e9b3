package libvirthv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
)

// twoHosts is host A (two VMs running, from testdata/hostA.xml) and an empty
// host B, sharing a disk directory and a checkpoint directory.
type twoHosts struct {
	a, b    host
	disks   string
	ckpt    string
	store   *memstore.Store
	aImages []imagestore.Image
}

func newRack(t *testing.T, bNode string) *twoHosts {
	t.Helper()
	dir := t.TempDir()
	r := &twoHosts{disks: filepath.Join(dir, "disks"), ckpt: filepath.Join(dir, "ckpt"), store: memstore.New()}
	mkdirs(t, r.disks, r.ckpt, filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	makeDisks(t, r.disks, "web1-root.qcow2", "web1-data.qcow2", "db1-root.qcow2")
	r.a = openHost(t, "hostA.xml", filepath.Join(dir, "a"), r.disks, r.ckpt)
	r.b = openHost(t, bNode, filepath.Join(dir, "b"), r.disks, r.ckpt)
	return r
}

// protect captures every VM of A into the store, owned by "a".
func (r *twoHosts) protect(t *testing.T) {
	t.Helper()
	for _, name := range []string{"db1", "web1"} {
		img, err := r.a.hv.Capture(testCtx(t), name)
		if err != nil {
			t.Fatalf("Capture(%q) on A: %v", name, err)
		}
		img.Owner = "a"
		stored, err := r.store.Put(testCtx(t), img)
		if err != nil {
			t.Fatal(err)
		}
		r.aImages = append(r.aImages, stored)
	}
}

// takeOver claims every image A owns for B, then starts it on B: what a
// monitor does once A's fence is confirmed.
func (r *twoHosts) takeOver(t *testing.T) {
	t.Helper()
	imgs, err := imagestore.OwnedBy(testCtx(t), r.store, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		claimed, err := imagestore.Claim(testCtx(t), r.store, img, "b")
		if err != nil {
			t.Fatalf("Claim(%q): %v", img.Name, err)
		}
		if err := r.b.hv.Start(testCtx(t), claimed); err != nil {
			t.Fatalf("Start(%q) on B: %v", img.Name, err)
		}
	}
}

func states(t *testing.T, hv *Hypervisor) map[string]hypervisor.VMState {
	t.Helper()
	vms, err := hv.List(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]hypervisor.VMState{}
	for _, vm := range vms {
		out[vm.Name] = vm.State
	}
	return out
}

// A fails (its connection is dropped, as a fenced host's would be) and B
// cold-starts both VMs from their captured images.
func TestFailoverColdStartOnB(t *testing.T) {
	r := newRack(t, "hostB.xml")
	r.protect(t)

	capt := r.aImages[1] // web1
	if diff := cmp.Diff([]string{filepath.Join(r.disks, "web1-root.qcow2"), filepath.Join(r.disks, "web1-data.qcow2")}, capt.Disks); diff != "" {
		t.Errorf("captured web1 disks (-want +got):\n%s", diff)
	}
	if capt.MemoryMiB != 1024 || capt.CPUs != 2 {
		t.Errorf("captured web1 = %d MiB, %d CPUs; want 1024, 2", capt.MemoryMiB, capt.CPUs)
	}

	r.a.hv.Close() // host A is gone
	r.takeOver(t)

	want := map[string]hypervisor.VMState{"db1": hypervisor.StateRunning, "web1": hypervisor.StateRunning}
	if diff := cmp.Diff(want, states(t, r.b.hv)); diff != "" {
		t.Errorf("B after takeover (-want +got):\n%s", diff)
	}
	free, err := r.b.hv.FreeCapacity(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := (hypervisor.Capacity{MemoryMiB: 16384 - 1024 - 2048, CPUs: 8 - 2 - 4}); free != want {
		t.Errorf("B FreeCapacity = %v, want %v", free, want)
	}

	// Nothing starts twice: a second start of the claimed image is refused.
	img, err := r.store.Get(testCtx(t), "web1")
	if err != nil {
		t.Fatal(err)
	}
	if img.Owner != "b" || img.Generation != 2 {
		t.Errorf("web1 in the store: owner %q generation %d, want b and 2", img.Owner, img.Generation)
	}
	if err := r.b.hv.Start(testCtx(t), img); !errors.Is(err, hypervisor.ErrAlreadyRunning) {
		t.Errorf("second Start of web1 on B: %v, want ErrAlreadyRunning", err)
	}
	// A claim that lost the race (stale generation) fails before any start.
	if _, err := imagestore.Claim(testCtx(t), r.store, r.aImages[1], "c"); !errors.Is(err, imagestore.ErrStaleGeneration) {
		t.Errorf("stale claim: %v, want ErrStaleGeneration", err)
	}
}

// A is degraded but alive: its VMs are checkpointed to shared storage and
// stopped, then B restores them, memory and all.
func TestEvacuateByCheckpoint(t *testing.T) {
	r := newRack(t, "hostB.xml")
	r.protect(t)

	for _, img := range r.aImages {
		ref, err := r.a.hv.Checkpoint(testCtx(t), img.Name)
		if err != nil {
			t.Fatalf("Checkpoint(%q) on A: %v", img.Name, err)
		}
		if filepath.Dir(ref) != r.ckpt {
			t.Errorf("checkpoint %q is not in %q", ref, r.ckpt)
		}
		img.Checkpoint = ref
		img.CheckpointGeneration = img.Generation + 1 // the generation this Put stores
		if _, err := r.store.Put(testCtx(t), img); err != nil {
			t.Fatal(err)
		}
	}
	// Checkpointed VMs stay defined on A, stopped.
	stopped := map[string]hypervisor.VMState{"db1": hypervisor.StateStopped, "web1": hypervisor.StateStopped}
	if diff := cmp.Diff(stopped, states(t, r.a.hv)); diff != "" {
		t.Errorf("A after checkpoints (-want +got):\n%s", diff)
	}

	r.takeOver(t)
	running := map[string]hypervisor.VMState{"db1": hypervisor.StateRunning, "web1": hypervisor.StateRunning}
	if diff := cmp.Diff(running, states(t, r.b.hv)); diff != "" {
		t.Errorf("B after restore (-want +got):\n%s", diff)
	}
	// Restoring the same checkpoint again is refused, and the restored VM
	// stays defined on B after it stops (it was defined before restore).
	img, _ := r.store.Get(testCtx(t), "web1")
	if err := r.b.hv.Start(testCtx(t), img); !errors.Is(err, hypervisor.ErrAlreadyRunning) {
		t.Errorf("second restore of web1 on B: %v, want ErrAlreadyRunning", err)
	}
	if err := r.b.hv.Stop(testCtx(t), "web1"); err != nil {
		t.Fatal(err)
	}
	if st, err := r.b.hv.State(testCtx(t), "web1"); err != nil || st != hypervisor.StateStopped {
		t.Errorf("web1 on B after Stop: %v, %v; want stopped", st, err)
	}
	// The restore consumed the save file: web1 ran on from it, so a second
	// restore would put stale memory over newer disks.
	if _, err := os.Stat(img.Checkpoint); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("checkpoint %q after its restore: stat %v, want it gone", img.Checkpoint, err)
	}
	if err := r.b.hv.Start(testCtx(t), img); !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), "resumed already") {
		t.Errorf("restore of web1's used checkpoint on B: %v, want ErrBadImage saying resumed already", err)
	}
	if st, _ := r.b.hv.State(testCtx(t), "web1"); st != hypervisor.StateStopped {
		t.Errorf("web1 on B after a refused second restore: %v, want stopped", st)
	}
	// A checkpoint of a stopped VM fails and leaves it as it was.
	if _, err := r.a.hv.Checkpoint(testCtx(t), "web1"); !errors.Is(err, hypervisor.ErrCheckpointFailed) {
		t.Errorf("Checkpoint of stopped web1 on A: %v, want ErrCheckpointFailed", err)
	}
}

// Restore may point the VM at other disk paths (the image's), when the
// driver allows it; the test driver does not, and says so as ErrBadImage.
func TestRestoreWithMovedDisksRefusedByTestDriver(t *testing.T) {
	r := newRack(t, "hostB.xml")
	r.protect(t)
	img := r.aImages[0] // db1
	ref, err := r.a.hv.Checkpoint(testCtx(t), img.Name)
	if err != nil {
		t.Fatal(err)
	}
	img.Checkpoint = ref
	img.Disks = makeDisks(t, r.disks, "db1-moved.qcow2")
	err = r.b.hv.Start(testCtx(t), img)
	if !errors.Is(err, hypervisor.ErrBadImage) {
		t.Fatalf("restore with moved disks: %v, want ErrBadImage", err)
	}
	if _, err := r.b.hv.State(testCtx(t), img.Name); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("db1 on B after a refused restore: %v, want ErrNotFound (nothing left behind)", err)
	}
	// The refused restore gave the save file back: the same claim resumes
	// it with the disks it was saved with.
	if _, err := os.Stat(ref); err != nil {
		t.Fatalf("checkpoint after a refused restore: %v", err)
	}
	img.Disks = nil
	if err := r.b.hv.Start(testCtx(t), img); err != nil {
		t.Fatalf("restore with the saved disks after a refused one: %v", err)
	}
}

// Two hosts restoring one checkpoint at once (each with its own name
// locks): the save file is taken by one of them only.
func TestConcurrentRestoreOneWins(t *testing.T) {
	r := newRack(t, "hostB.xml")
	r.protect(t)
	cDir := filepath.Join(filepath.Dir(r.disks), "c")
	mkdirs(t, cDir)
	c := openHost(t, "hostB.xml", cDir, r.disks, r.ckpt)
	img := r.aImages[1].Clone() // web1
	ref, err := r.a.hv.Checkpoint(testCtx(t), img.Name)
	if err != nil {
		t.Fatal(err)
	}
	img.Checkpoint, img.CheckpointGeneration, img.Generation = ref, 1, 2
	hosts := []*Hypervisor{r.b.hv, c.hv}
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = h.Start(testCtx(t), img.Clone()) }()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, hypervisor.ErrBadImage):
			t.Errorf("restore %d: %v, want nil or ErrBadImage", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of 2 concurrent restores of one checkpoint succeeded (%v), want 1", won, errs)
	}
}
