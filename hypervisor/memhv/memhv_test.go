package memhv_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/hypervisortest"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
)

func image(name string) imagestore.Image {
	return imagestore.Image{Name: name, Owner: "blade-a", Generation: 1, Definition: []byte("<vm " + name + ">"),
		Disks: []string{"/shared/" + name + ".qcow2"}, MemoryMiB: 1024, CPUs: 2}
}

func newHV(t *testing.T, cfg memhv.Config) *memhv.Hypervisor {
	t.Helper()
	h, err := memhv.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

func TestConformance(t *testing.T) {
	hypervisortest.Run(t, hypervisortest.Harness{
		Open: func(t *testing.T) hypervisortest.Fixture {
			st := memhv.NewStorage()
			a := memhv.DefaultConfig("blade-a")
			a.Storage = st
			b := memhv.DefaultConfig("blade-b")
			b.Storage = st
			return hypervisortest.Fixture{
				HV:       newHV(t, a),
				Peer:     newHV(t, b),
				NewImage: image,
				BadImage: func(name string) imagestore.Image {
					img := image(name)
					img.Definition = nil
					return img
				},
			}
		},
		Unreachable: func(t *testing.T) hypervisor.Hypervisor {
			h := newHV(t, memhv.DefaultConfig("gone"))
			h.SetUnreachable(true)
			return h
		},
		EnforcesCapacity: true,
	})
}

func TestConformancePrivateStoragePoweredOff(t *testing.T) {
	hypervisortest.Run(t, hypervisortest.Harness{
		Open: func(t *testing.T) hypervisortest.Fixture {
			return hypervisortest.Fixture{HV: newHV(t, memhv.DefaultConfig("blade-a")), NewImage: image}
		},
		Unreachable: func(t *testing.T) hypervisor.Hypervisor {
			h := newHV(t, memhv.DefaultConfig("off"))
			h.PowerOff()
			return h
		},
	})
}

func TestRunningAcrossHypervisors(t *testing.T) {
	st := memhv.NewStorage()
	a := newHV(t, memhv.Config{Name: "a", Capacity: hypervisor.Capacity{MemoryMiB: 4096, CPUs: 8}, Storage: st})
	b := newHV(t, memhv.Config{Name: "b", Capacity: hypervisor.Capacity{MemoryMiB: 4096, CPUs: 8}, Storage: st})
	ctx := context.Background()
	for _, h := range []*memhv.Hypervisor{b, a} {
		if err := h.Start(ctx, image("vm1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Start(ctx, image("vm2")); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"a", "b"}, st.Running("vm1")); d != "" {
		t.Fatalf("Running(vm1) (-want +got):\n%s", d)
	}
	b.SetUnreachable(true) // a partition does not stop VMs
	if d := cmp.Diff(map[string][]string{"vm1": {"a", "b"}, "vm2": {"a"}}, st.RunningAll()); d != "" {
		t.Fatalf("RunningAll (-want +got):\n%s", d)
	}
	b.PowerOff()
	if d := cmp.Diff([]string{"a"}, st.Running("vm1")); d != "" {
		t.Fatalf("Running(vm1) after b lost power (-want +got):\n%s", d)
	}
	b.PowerOn()
	if vms, err := b.List(ctx); err != nil || len(vms) != 0 {
		t.Fatalf("List after PowerOn: %v, %v; want reachable and empty", vms, err)
	}
	if _, err := memhv.New(memhv.Config{Name: "a", Capacity: hypervisor.Capacity{MemoryMiB: 1, CPUs: 1}, Storage: st}); !errors.Is(err, memhv.ErrInvalidConfig) {
		t.Fatalf("second hypervisor named a on one Storage: %v", err)
	}
}

func TestEvacuation(t *testing.T) {
	st := memhv.NewStorage()
	a := newHV(t, memhv.Config{Name: "a", Capacity: hypervisor.Capacity{MemoryMiB: 4096, CPUs: 8}, Storage: st})
	b := newHV(t, memhv.Config{Name: "b", Capacity: hypervisor.Capacity{MemoryMiB: 4096, CPUs: 8}, Storage: st})
	ctx := context.Background()
	if err := a.Start(ctx, image("vm1")); err != nil {
		t.Fatal(err)
	}
	a.FailCheckpoint(fmt.Errorf("disk full: %w", hypervisor.ErrCheckpointFailed))
	if _, err := a.Checkpoint(ctx, "vm1"); !errors.Is(err, hypervisor.ErrCheckpointFailed) {
		t.Fatalf("Checkpoint with FailCheckpoint: %v", err)
	}
	if d := cmp.Diff([]string{"a"}, st.Running("vm1")); d != "" {
		t.Fatalf("a failed checkpoint stopped the VM (-want +got):\n%s", d)
	}
	a.FailCheckpoint(nil)
	ref, err := a.Checkpoint(ctx, "vm1")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := st.Checkpoint(ref)
	if !ok || c.From != "a" || c.VM != "vm1" || c.MemoryMiB != 1024 {
		t.Fatalf("Storage.Checkpoint(%q) = %+v, %v", ref, c, ok)
	}
	img := image("vm1")
	img.Checkpoint = ref
	img.Definition = nil // the checkpoint carries the definition
	// Recorded at generation 2, claimed for b at 3: only 3 may resume it.
	img.CheckpointGeneration = 2
	for _, gen := range []uint64{2, 4} {
		img.Generation = gen
		if err := b.Start(ctx, img); !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), fmt.Sprintf("generation 2, so only generation 3 may resume it, not %d", gen)) {
			t.Fatalf("resume at generation %d of a checkpoint recorded at 2: %v", gen, err)
		}
	}
	img.Generation = 3
	if err := b.Start(ctx, img); err != nil {
		t.Fatalf("resume on b: %v", err)
	}
	if c, _ := st.Checkpoint(ref); c.ResumedOn != "b" {
		t.Fatalf("Storage.Checkpoint(%q).ResumedOn = %q, want b", ref, c.ResumedOn)
	}
	if b.ResumedFrom("vm1") != ref {
		t.Fatalf("ResumedFrom = %q, want %q", b.ResumedFrom("vm1"), ref)
	}
	if d := cmp.Diff([]string{"b"}, st.Running("vm1")); d != "" {
		t.Fatalf("after evacuation (-want +got):\n%s", d)
	}
	// Once the VM ran, its checkpoint is stale: neither b again nor a
	// may resume it.
	if err := b.Stop(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*memhv.Hypervisor{b, a} {
		if err := h.Start(ctx, img); !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), "resumed already, on b") {
			t.Fatalf("second resume on %s: %v", h.Name(), err)
		}
	}
	if got := st.Running("vm1"); len(got) != 0 {
		t.Fatalf("vm1 runs on %v after refused resumes", got)
	}
	img = image("vm1")
	if err := b.Start(ctx, img); err != nil {
		t.Fatalf("cold start after the checkpoint was used: %v", err)
	}
	other := image("vm2")
	other.Checkpoint = ref
	if err := b.Start(ctx, other); !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), `of VM "vm1"`) {
		t.Fatalf("resume vm2 from vm1's checkpoint: %v", err)
	}
	other.Checkpoint = "memhv://checkpoint/999/vm2"
	if err := b.Start(ctx, other); !errors.Is(err, hypervisor.ErrBadImage) {
		t.Fatalf("resume from an unknown checkpoint: %v", err)
	}
}

// Two hypervisors resuming one checkpoint at once: one wins.
func TestConcurrentResumeOneWins(t *testing.T) {
	st := memhv.NewStorage()
	hs := make([]*memhv.Hypervisor, 4)
	for i := range hs {
		cfg := memhv.DefaultConfig(fmt.Sprintf("h%d", i))
		cfg.Storage = st
		hs[i] = newHV(t, cfg)
	}
	ctx := context.Background()
	img := image("vm1")
	if err := hs[0].Start(ctx, img); err != nil {
		t.Fatal(err)
	}
	ref, err := hs[0].Checkpoint(ctx, "vm1")
	if err != nil {
		t.Fatal(err)
	}
	img.Checkpoint, img.CheckpointGeneration, img.Generation = ref, 2, 3
	errs := make([]error, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = h.Start(ctx, img.Clone()) }()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), "resumed already"):
			t.Errorf("resume on h%d: %v", i, err)
		}
	}
	if got := st.Running("vm1"); won != 1 || len(got) != 1 {
		t.Fatalf("%d resumes won, vm1 runs on %v; want exactly one", won, got)
	}
}

func TestFailStartAndCapacity(t *testing.T) {
	h := newHV(t, memhv.Config{Name: "a", Capacity: hypervisor.Capacity{MemoryMiB: 2048, CPUs: 3}})
	ctx := context.Background()
	boom := errors.New("qemu crashed")
	h.FailStart(boom)
	if err := h.Start(ctx, image("vm1")); !errors.Is(err, boom) {
		t.Fatalf("Start with FailStart: %v", err)
	}
	h.FailStart(nil)
	if err := h.Start(ctx, image("vm1")); err != nil {
		t.Fatal(err)
	}
	// 1024 MiB fits, 2 more CPUs do not.
	if err := h.Start(ctx, image("vm2")); !errors.Is(err, hypervisor.ErrNoCapacity) || !strings.Contains(err.Error(), "1024 MiB/1 CPUs free") {
		t.Fatalf("Start beyond CPUs: %v", err)
	}
	bad := image("vm3")
	bad.Owner = ""
	if err := h.Start(ctx, bad); !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), "empty Owner") {
		t.Fatalf("Start of an image without owner: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  memhv.Config
		want string
	}{
		{memhv.Config{Capacity: hypervisor.Capacity{MemoryMiB: 1, CPUs: 1}}, "Config.Name"},
		{memhv.Config{Name: "a", Capacity: hypervisor.Capacity{CPUs: 1}}, "Config.Capacity.MemoryMiB 0"},
		{memhv.Config{Name: "a", Capacity: hypervisor.Capacity{MemoryMiB: 1, CPUs: -1}}, "Config.Capacity.CPUs -1"},
	} {
		if _, err := memhv.New(c.cfg); !errors.Is(err, memhv.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want ErrInvalidConfig naming %q", c.cfg, err, c.want)
		}
	}
}

// A simulated BMC powering its server off takes the server's VMs with it.
func TestWiredToSimBMC(t *testing.T) {
	h := newHV(t, memhv.DefaultConfig("blade-a"))
	cfg := simbmc.DefaultConfig("blade-a")
	cfg.OnPower = func(p bmc.PowerState) {
		if p == bmc.PowerOff {
			h.PowerOff()
		} else {
			h.PowerOn()
		}
	}
	b, err := simbmc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := h.Start(ctx, image("vm1")); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPower(ctx, bmc.PowerActionCycle); err != nil {
		t.Fatal(err)
	}
	if _, err := h.State(ctx, "vm1"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("State of vm1 after a power cycle: %v, want ErrNotFound", err)
	}
}

func Example() {
	shared := memhv.NewStorage()
	a, _ := memhv.New(memhv.Config{Name: "blade-a", Capacity: hypervisor.Capacity{MemoryMiB: 8192, CPUs: 8}, Storage: shared})
	b, _ := memhv.New(memhv.Config{Name: "blade-b", Capacity: hypervisor.Capacity{MemoryMiB: 8192, CPUs: 8}, Storage: shared})
	ctx := context.Background()
	img := imagestore.Image{Name: "db", Owner: "blade-a", Generation: 1, Definition: []byte("<domain/>"), MemoryMiB: 4096, CPUs: 4}

	_ = a.Start(ctx, img)
	fmt.Println("db runs on", shared.Running("db"))

	// Evacuate: checkpoint on a (recorded in the store at generation 2),
	// claim for b (generation 3), resume on b.
	img.Checkpoint, _ = a.Checkpoint(ctx, "db")
	img.CheckpointGeneration, img.Generation = 2, 3
	_ = b.Start(ctx, img)
	fmt.Println("db runs on", shared.Running("db"))
	_ = b.Stop(ctx, "db")
	fmt.Println("resume again:", errors.Is(b.Start(ctx, img), hypervisor.ErrBadImage))
	_ = b.Start(ctx, imagestore.Image{Name: "db", Owner: "blade-b", Generation: 4, Definition: []byte("<domain/>"), MemoryMiB: 4096, CPUs: 4})
	free, _ := b.FreeCapacity(ctx)
	fmt.Println("free on blade-b:", free)
	// Output:
	// db runs on [blade-a]
	// db runs on [blade-b]
	// resume again: true
	// free on blade-b: 4096 MiB/4 CPUs
}
