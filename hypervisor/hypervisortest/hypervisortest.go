// Package hypervisortest is a conformance suite for hypervisor.Hypervisor
// implementations (libvirt, vSphere, the in-memory simulator), in the style
// of gocloud's drivertest: an implementation supplies a Harness and calls
// Run from its own tests. The optional interfaces (Checkpointer,
// CapacityReporter, Capturer) are checked when the hypervisor implements
// them.
//
// Checkpoints are resumed as the monitor resumes them: recorded by a Put
// (CheckpointGeneration is that Put's generation), then claimed (Generation
// one more). The suite checks that a checkpoint resumes only from that
// claim and only once: other generations, and a second resume after the
// VM ran, must fail with hypervisor.ErrBadImage and start nothing.
//
// Run and the Harness funcs are called from the test goroutine; the suite
// starts one image from several goroutines in one check, so run it under
// -race.
package hypervisortest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// Harness lets a Hypervisor implementation plug into the suite.
type Harness struct {
	// Open returns a fresh fixture whose hypervisor runs no VM. Each
	// subtest opens its own; release resources with t.Cleanup. Required.
	Open func(t *testing.T) Fixture
	// Unreachable returns a hypervisor whose host is gone: every method
	// must fail with an error wrapping hypervisor.ErrUnreachable (or
	// ErrHostDown) within the suite's 3 s deadline. Nil if the backend
	// cannot simulate it; the check is then skipped, and the adapter's
	// test file should say why.
	Unreachable func(t *testing.T) hypervisor.Hypervisor
	// EnforcesCapacity: Start refuses a VM larger than FreeCapacity with
	// ErrNoCapacity. Only meaningful with a CapacityReporter.
	EnforcesCapacity bool
	// Timeout bounds each call. Default 30 s.
	Timeout time.Duration
}

// Fixture is one hypervisor under test and images it can start.
type Fixture struct {
	// HV is the implementation under test. Required.
	HV hypervisor.Hypervisor
	// NewImage returns an image called name that HV can start: a valid
	// definition, Owner set, Generation 1, and small resources. Required.
	NewImage func(name string) imagestore.Image
	// NewImageSized is NewImage with the given resources, for the
	// capacity checks. Nil means NewImage with Image.MemoryMiB and
	// Image.CPUs overwritten (right for backends that size VMs from
	// those fields).
	NewImageSized func(name string, need hypervisor.Capacity) imagestore.Image
	// BadImage returns an image called name that HV must refuse with
	// ErrBadImage (say, a broken definition). Nil skips the check.
	BadImage func(name string) imagestore.Image
	// Peer is a second hypervisor that reaches the same checkpoint
	// storage as HV. If set, a checkpoint taken on HV is also resumed on
	// Peer (evacuation). Nil skips that part.
	Peer hypervisor.Hypervisor
}

const unreachableDeadline = 3 * time.Second

// Run runs every check as a subtest of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("hypervisortest: Harness.Open is required")
	}
	if h.Timeout <= 0 {
		h.Timeout = 30 * time.Second
	}
	tests := []struct {
		name string
		f    func(*testing.T, Harness)
	}{
		{"StartRunsAndLists", testStart},
		{"StartTwiceIsAlreadyRunning", testStartTwice},
		{"StopStops", testStop},
		{"StopUnknownIsSuccess", testStopUnknown},
		{"StateUnknownIsNotFound", testStateUnknown},
		{"ListSortedByName", testListSorted},
		{"ConcurrentStartOneWins", testConcurrentStart},
		{"BadImageRefused", testBadImage},
		{"Checkpoint", testCheckpoint},
		{"ResumeOnlyAtNextGeneration", testResumeGeneration},
		{"ResumeOnce", testResumeOnce},
		{"CheckpointUnknownIsNotFound", testCheckpointUnknown},
		{"FreeCapacityFollowsVMs", testCapacity},
		{"NoCapacityRefused", testNoCapacity},
		{"Capture", testCapture},
		{"UnreachableWrapsErrUnreachable", testUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, h) })
	}
}

func ctx(t *testing.T, h Harness) context.Context {
	c, cancel := context.WithTimeout(context.Background(), h.Timeout)
	t.Cleanup(cancel)
	return c
}

func start(t *testing.T, h Harness, hv hypervisor.Hypervisor, img imagestore.Image) {
	t.Helper()
	if err := hv.Start(ctx(t, h), img); err != nil {
		t.Fatalf("Start(%q): %v", img.Name, err)
	}
}

func list(t *testing.T, h Harness, hv hypervisor.Hypervisor) []hypervisor.VM {
	t.Helper()
	vms, err := hv.List(ctx(t, h))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return vms
}

func running(t *testing.T, h Harness, hv hypervisor.Hypervisor, name string) {
	t.Helper()
	st, err := hv.State(ctx(t, h), name)
	if err != nil {
		t.Fatalf("State(%q): %v", name, err)
	}
	if st != hypervisor.StateRunning {
		t.Fatalf("State(%q) = %v, want running", name, st)
	}
}

// notRunning accepts Stopped or ErrNotFound: backends may forget stopped
// VMs (say so in their docs).
func notRunning(t *testing.T, h Harness, hv hypervisor.Hypervisor, name, after string) {
	t.Helper()
	st, err := hv.State(ctx(t, h), name)
	switch {
	case errors.Is(err, hypervisor.ErrNotFound):
	case err != nil:
		t.Fatalf("State(%q) %s: %v", name, after, err)
	case st != hypervisor.StateStopped:
		t.Fatalf("State(%q) %s = %v, want stopped (or ErrNotFound)", name, after, st)
	}
	for _, vm := range list(t, h, hv) {
		if vm.Name == name && vm.State == hypervisor.StateRunning {
			t.Fatalf("List %s shows %q running", after, name)
		}
	}
}

func count(vms []hypervisor.VM, name string) (n int, vm hypervisor.VM) {
	for _, v := range vms {
		if v.Name == name {
			n, vm = n+1, v
		}
	}
	return n, vm
}

func testStart(t *testing.T, h Harness) {
	f := h.Open(t)
	start(t, h, f.HV, f.NewImage("hvt-a"))
	running(t, h, f.HV, "hvt-a")
	n, vm := count(list(t, h, f.HV), "hvt-a")
	if n != 1 || vm.State != hypervisor.StateRunning {
		t.Fatalf("List after Start: %d entries for hvt-a (last %+v), want 1 running", n, vm)
	}
}

func testStartTwice(t *testing.T, h Harness) {
	f := h.Open(t)
	img := f.NewImage("hvt-a")
	start(t, h, f.HV, img)
	if err := f.HV.Start(ctx(t, h), img); !errors.Is(err, hypervisor.ErrAlreadyRunning) {
		t.Fatalf("second Start(%q): err = %v, want one wrapping ErrAlreadyRunning", img.Name, err)
	}
	if n, _ := count(list(t, h, f.HV), "hvt-a"); n != 1 {
		t.Fatalf("List after a second Start: %d entries for hvt-a, want 1", n)
	}
	running(t, h, f.HV, "hvt-a")
}

func testStop(t *testing.T, h Harness) {
	f := h.Open(t)
	start(t, h, f.HV, f.NewImage("hvt-a"))
	if err := f.HV.Stop(ctx(t, h), "hvt-a"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	notRunning(t, h, f.HV, "hvt-a", "after Stop")
	if err := f.HV.Stop(ctx(t, h), "hvt-a"); err != nil {
		t.Fatalf("Stop of a stopped VM: %v, want nil", err)
	}
	// A stopped VM can be started again.
	start(t, h, f.HV, f.NewImage("hvt-a"))
	running(t, h, f.HV, "hvt-a")
}

func testStopUnknown(t *testing.T, h Harness) {
	f := h.Open(t)
	if err := f.HV.Stop(ctx(t, h), "hvt-never-seen"); err != nil {
		t.Fatalf("Stop of an unknown VM: %v, want nil", err)
	}
}

func testStateUnknown(t *testing.T, h Harness) {
	f := h.Open(t)
	if _, err := f.HV.State(ctx(t, h), "hvt-never-seen"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("State of an unknown VM: err = %v, want one wrapping ErrNotFound", err)
	}
}

func testListSorted(t *testing.T, h Harness) {
	f := h.Open(t)
	for _, n := range []string{"hvt-c", "hvt-a", "hvt-b"} {
		start(t, h, f.HV, f.NewImage(n))
	}
	vms := list(t, h, f.HV)
	if !slices.IsSortedFunc(vms, func(a, b hypervisor.VM) int { return cmp.Compare(a.Name, b.Name) }) {
		t.Fatalf("List not sorted by name: %+v", vms)
	}
	for _, n := range []string{"hvt-a", "hvt-b", "hvt-c"} {
		if c, _ := count(vms, n); c != 1 {
			t.Errorf("List has %d entries for %q, want 1", c, n)
		}
	}
}

func testConcurrentStart(t *testing.T, h Harness) {
	f := h.Open(t)
	img := f.NewImage("hvt-race")
	const n = 6
	var (
		wg    sync.WaitGroup
		gate  = make(chan struct{})
		errs  = make([]error, n)
		start = time.Now()
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			c, cancel := context.WithTimeout(context.Background(), h.Timeout)
			defer cancel()
			errs[i] = f.HV.Start(c, img.Clone())
		}()
	}
	close(gate)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, hypervisor.ErrAlreadyRunning):
			t.Errorf("concurrent Start %d: err = %v, want nil or ErrAlreadyRunning", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent Starts of one image: %d succeeded, want exactly 1 (took %v)", n, won, time.Since(start))
	}
	if c, _ := count(list(t, h, f.HV), img.Name); c != 1 {
		t.Fatalf("List after concurrent Starts: %d entries for %q, want 1", c, img.Name)
	}
}

func testBadImage(t *testing.T, h Harness) {
	f := h.Open(t)
	if f.BadImage == nil {
		t.Skip("Fixture.BadImage is nil")
	}
	img := f.BadImage("hvt-bad")
	if err := f.HV.Start(ctx(t, h), img); !errors.Is(err, hypervisor.ErrBadImage) {
		t.Fatalf("Start of a malformed image: err = %v, want one wrapping ErrBadImage", err)
	}
	notRunning(t, h, f.HV, img.Name, "after a refused Start")
}

// checkpointed starts an image called name on f.HV and checkpoints it.
// It returns the image as the monitor starts it from that checkpoint: the
// checkpoint recorded by a Put at img.Generation (stored at
// img.Generation+1), then claimed (one more), and the hypervisor to resume
// it on (the peer when there is one). ok is false when HV cannot
// checkpoint.
func checkpointed(t *testing.T, h Harness, f Fixture, name string) (resumed imagestore.Image, target hypervisor.Hypervisor, ok bool) {
	t.Helper()
	cp, ok := f.HV.(hypervisor.Checkpointer)
	if !ok {
		return imagestore.Image{}, nil, false
	}
	img := f.NewImage(name)
	start(t, h, f.HV, img)
	ref, err := cp.Checkpoint(ctx(t, h), img.Name)
	if err != nil {
		t.Fatalf("Checkpoint(%q): %v", img.Name, err)
	}
	if ref == "" {
		t.Fatalf("Checkpoint(%q) returned an empty ref", img.Name)
	}
	notRunning(t, h, f.HV, img.Name, "after Checkpoint")
	resumed = img.Clone()
	resumed.Checkpoint = ref
	resumed.CheckpointGeneration = img.Generation + 1 // the Put that recorded it
	resumed.Generation = img.Generation + 2           // the claim that follows
	target = f.HV
	if f.Peer != nil {
		target = f.Peer
	}
	return resumed, target, true
}

func where(f Fixture, target hypervisor.Hypervisor) string {
	if f.Peer != nil && target == f.Peer {
		return "the peer hypervisor"
	}
	return "the same hypervisor"
}

func testCheckpoint(t *testing.T, h Harness) {
	f := h.Open(t)
	resumed, target, ok := checkpointed(t, h, f, "hvt-ckpt")
	if !ok {
		t.Skip("hypervisor does not implement hypervisor.Checkpointer")
	}
	if err := target.Start(ctx(t, h), resumed); err != nil {
		t.Fatalf("Start(%q) from checkpoint %q on %s: %v", resumed.Name, resumed.Checkpoint, where(f, target), err)
	}
	running(t, h, target, resumed.Name)
}

// testResumeGeneration: a checkpoint resumes only from the image of the
// claim right after it was recorded (Generation == CheckpointGeneration+1).
// Memory saved before a later generation ran over newer disks corrupts
// them. The refusals change nothing: the right claim resumes afterwards.
func testResumeGeneration(t *testing.T, h Harness) {
	f := h.Open(t)
	resumed, target, ok := checkpointed(t, h, f, "hvt-gen")
	if !ok {
		t.Skip("hypervisor does not implement hypervisor.Checkpointer")
	}
	for _, tc := range []struct {
		what string
		gen  uint64
	}{
		{"the recording Put's own generation (not claimed)", resumed.CheckpointGeneration},
		{"a later claim", resumed.CheckpointGeneration + 2},
		{"a much later claim", resumed.CheckpointGeneration + 40},
	} {
		img := resumed.Clone()
		img.Generation = tc.gen
		err := target.Start(ctx(t, h), img)
		if !errors.Is(err, hypervisor.ErrBadImage) {
			t.Fatalf("Start at generation %d (%s) from a checkpoint recorded at generation %d: err = %v, want one wrapping ErrBadImage",
				tc.gen, tc.what, img.CheckpointGeneration, err)
		}
		for _, g := range []uint64{img.CheckpointGeneration, tc.gen} {
			if !strings.Contains(err.Error(), strconv.FormatUint(g, 10)) {
				t.Errorf("refusal of a resume at generation %d of a checkpoint recorded at %d does not name generation %d: %v", tc.gen, img.CheckpointGeneration, g, err)
			}
		}
		notRunning(t, h, target, img.Name, "after a refused resume")
	}
	if err := target.Start(ctx(t, h), resumed); err != nil {
		t.Fatalf("Start(%q) at generation %d from the checkpoint recorded at %d on %s, after refused resumes: %v",
			resumed.Name, resumed.Generation, resumed.CheckpointGeneration, where(f, target), err)
	}
	running(t, h, target, resumed.Name)
}

// testResumeOnce: once resumed, a checkpoint is stale (the VM ran on from
// it): a second resume of the same image is refused, on either
// hypervisor, and nothing runs.
func testResumeOnce(t *testing.T, h Harness) {
	f := h.Open(t)
	resumed, target, ok := checkpointed(t, h, f, "hvt-once")
	if !ok {
		t.Skip("hypervisor does not implement hypervisor.Checkpointer")
	}
	if err := target.Start(ctx(t, h), resumed); err != nil {
		t.Fatalf("first Start(%q) from checkpoint %q on %s: %v", resumed.Name, resumed.Checkpoint, where(f, target), err)
	}
	running(t, h, target, resumed.Name)
	if err := target.Stop(ctx(t, h), resumed.Name); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	notRunning(t, h, target, resumed.Name, "after Stop")
	again := []hypervisor.Hypervisor{target}
	if target != f.HV {
		again = append(again, f.HV)
	}
	for _, hv := range again {
		err := hv.Start(ctx(t, h), resumed.Clone())
		if !errors.Is(err, hypervisor.ErrBadImage) {
			t.Fatalf("second Start(%q) from checkpoint %q on %s after it ran and stopped: err = %v, want one wrapping ErrBadImage",
				resumed.Name, resumed.Checkpoint, where(f, hv), err)
		}
		notRunning(t, h, hv, resumed.Name, "after a refused second resume")
	}
}

func testCheckpointUnknown(t *testing.T, h Harness) {
	f := h.Open(t)
	cp, ok := f.HV.(hypervisor.Checkpointer)
	if !ok {
		t.Skip("hypervisor does not implement hypervisor.Checkpointer")
	}
	if _, err := cp.Checkpoint(ctx(t, h), "hvt-never-seen"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatalf("Checkpoint of an unknown VM: err = %v, want one wrapping ErrNotFound", err)
	}
}

func free(t *testing.T, h Harness, cr hypervisor.CapacityReporter) hypervisor.Capacity {
	t.Helper()
	c, err := cr.FreeCapacity(ctx(t, h))
	if err != nil {
		t.Fatalf("FreeCapacity: %v", err)
	}
	return c
}

func testCapacity(t *testing.T, h Harness) {
	f := h.Open(t)
	cr, ok := f.HV.(hypervisor.CapacityReporter)
	if !ok {
		t.Skip("hypervisor does not implement hypervisor.CapacityReporter")
	}
	before := free(t, h, cr)
	img := f.NewImage("hvt-cap")
	start(t, h, f.HV, img)
	_, vm := count(list(t, h, f.HV), img.Name)
	used := hypervisor.Capacity{MemoryMiB: vm.MemoryMiB, CPUs: vm.CPUs}
	if used.MemoryMiB <= 0 || used.CPUs <= 0 {
		t.Fatalf("List shows %q using %v; NewImage must give VMs non-zero resources", img.Name, used)
	}
	if got, want := free(t, h, cr), before.Sub(used); got != want {
		t.Errorf("FreeCapacity after starting a %v VM = %v, want %v (was %v)", used, got, want, before)
	}
	if err := f.HV.Stop(ctx(t, h), img.Name); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := free(t, h, cr); got != before {
		t.Errorf("FreeCapacity after Stop = %v, want %v again", got, before)
	}
}

func testNoCapacity(t *testing.T, h Harness) {
	f := h.Open(t)
	cr, ok := f.HV.(hypervisor.CapacityReporter)
	if !ok || !h.EnforcesCapacity {
		t.Skip("hypervisor does not report and enforce capacity (Harness.EnforcesCapacity)")
	}
	fr := free(t, h, cr)
	need := hypervisor.Capacity{MemoryMiB: fr.MemoryMiB + 1, CPUs: 1}
	var img imagestore.Image
	if f.NewImageSized != nil {
		img = f.NewImageSized("hvt-huge", need)
	} else {
		img = f.NewImage("hvt-huge")
		img.MemoryMiB, img.CPUs = need.MemoryMiB, need.CPUs
	}
	if err := f.HV.Start(ctx(t, h), img); !errors.Is(err, hypervisor.ErrNoCapacity) {
		t.Fatalf("Start of a %v VM with %v free: err = %v, want one wrapping ErrNoCapacity", need, fr, err)
	}
	notRunning(t, h, f.HV, img.Name, "after a refused Start")
	if got := free(t, h, cr); got != fr {
		t.Errorf("FreeCapacity after a refused Start = %v, want %v", got, fr)
	}
}

func testCapture(t *testing.T, h Harness) {
	f := h.Open(t)
	cp, ok := f.HV.(hypervisor.Capturer)
	if !ok {
		t.Skip("hypervisor does not implement hypervisor.Capturer")
	}
	img := f.NewImage("hvt-cap")
	start(t, h, f.HV, img)
	got, err := cp.Capture(ctx(t, h), img.Name)
	if err != nil {
		t.Fatalf("Capture(%q): %v", img.Name, err)
	}
	if got.Name != img.Name || len(got.Definition) == 0 {
		t.Fatalf("Capture(%q) = name %q, %d-byte definition; want the same name and a definition", img.Name, got.Name, len(got.Definition))
	}
	if _, err := cp.Capture(ctx(t, h), "hvt-never-seen"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("Capture of an unknown VM: err = %v, want one wrapping ErrNotFound", err)
	}
}

func testUnreachable(t *testing.T, h Harness) {
	if h.Unreachable == nil {
		t.Skip("Harness.Unreachable is nil: the backend cannot simulate an unreachable host")
	}
	hv := h.Unreachable(t)
	img := imagestore.Image{Name: "hvt-x", Owner: "nobody", Generation: 1, Definition: []byte("x"), MemoryMiB: 1, CPUs: 1}
	calls := []struct {
		name string
		f    func(context.Context) error
	}{
		{"Start", func(c context.Context) error { return hv.Start(c, img) }},
		{"Stop", func(c context.Context) error { return hv.Stop(c, img.Name) }},
		{"State", func(c context.Context) error { _, err := hv.State(c, img.Name); return err }},
		{"List", func(c context.Context) error { _, err := hv.List(c); return err }},
	}
	if cp, ok := hv.(hypervisor.Checkpointer); ok {
		calls = append(calls, struct {
			name string
			f    func(context.Context) error
		}{"Checkpoint", func(c context.Context) error { _, err := cp.Checkpoint(c, img.Name); return err }})
	}
	if cr, ok := hv.(hypervisor.CapacityReporter); ok {
		calls = append(calls, struct {
			name string
			f    func(context.Context) error
		}{"FreeCapacity", func(c context.Context) error { _, err := cr.FreeCapacity(c); return err }})
	}
	for _, call := range calls {
		c, cancel := context.WithTimeout(context.Background(), unreachableDeadline)
		begin := time.Now()
		err := call.f(c)
		took := time.Since(begin)
		cancel()
		if !errors.Is(err, hypervisor.ErrUnreachable) && !errors.Is(err, hypervisor.ErrHostDown) {
			t.Errorf("%s on an unreachable hypervisor: err = %v, want one wrapping ErrUnreachable or ErrHostDown", call.name, err)
		}
		if took > unreachableDeadline+500*time.Millisecond {
			t.Errorf("%s on an unreachable hypervisor took %v, beyond %v", call.name, took, unreachableDeadline)
		}
	}
}
