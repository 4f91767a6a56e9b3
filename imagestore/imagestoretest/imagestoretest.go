// Package imagestoretest is a conformance suite for imagestore.Store
// implementations, in the style of gocloud's drivertest: an implementation
// supplies a Harness and calls Run from its own tests.
//
// Run and the Harness funcs are called from the test goroutine; the suite
// itself calls the Store from several goroutines to check the concurrency
// rule of imagestore.Store.
package imagestoretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/imagestore"
)

// Harness lets a Store implementation plug into the suite.
type Harness struct {
	// Open returns a new, empty store. Each subtest opens its own. Cleanup
	// (closing files, removing directories) is registered with t.Cleanup.
	// Required.
	Open func(t *testing.T) imagestore.Store
}

// callTimeout bounds every single call the suite makes.
const callTimeout = 10 * time.Second

// Run runs every check as a subtest of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("imagestoretest: Harness.Open is nil")
	}
	tests := []struct {
		name string
		f    func(*testing.T, imagestore.Store)
	}{
		{"GetUnknownIsNotFound", testGetUnknown},
		{"CreateSetsGeneration1", testCreate},
		{"RoundTripExact", testRoundTrip},
		{"UpdateBumpsGeneration", testUpdate},
		{"StaleGenerationChangesNothing", testStale},
		{"CreateExistingIsStale", testCreateExisting},
		{"FutureGenerationIsStale", testFutureGeneration},
		{"InvalidImageRefused", testInvalid},
		{"ListSortedByName", testListSorted},
		{"ListEmpty", testListEmpty},
		{"ReturnsDeepCopies", testDeepCopies},
		{"PutDoesNotKeepCallerSlices", testPutCopies},
		{"ClaimOneWinner", testClaimOneWinner},
		{"ConcurrentDistinctPuts", testConcurrentDistinct},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.f(t, h.Open(t))
		})
	}
}

// Sample returns a valid, never-stored image named name with every field
// set, so round trips exercise all of them.
func Sample(name string) imagestore.Image {
	return imagestore.Image{
		Name:       name,
		Definition: []byte("<domain><name>" + name + "</name>\x00\xff</domain>"),
		Disks:      []string{"/shared/" + name + "-root.qcow2", "/shared/" + name + "-data.qcow2"},
		Checkpoint: "",
		Owner:      "blade-a",
		Priority:   7,
		MemoryMiB:  2048,
		CPUs:       2,
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return c
}

func mustPut(t *testing.T, s imagestore.Store, img imagestore.Image) imagestore.Image {
	t.Helper()
	out, err := s.Put(ctx(t), img)
	if err != nil {
		t.Fatalf("Put(%q, generation %d): %v", img.Name, img.Generation, err)
	}
	return out
}

func mustGet(t *testing.T, s imagestore.Store, name string) imagestore.Image {
	t.Helper()
	out, err := s.Get(ctx(t), name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return out
}

func testGetUnknown(t *testing.T, s imagestore.Store) {
	for _, name := range []string{"no-such-vm", "", "../no-such-vm"} {
		_, err := s.Get(ctx(t), name)
		if !errors.Is(err, imagestore.ErrNotFound) {
			t.Errorf("Get(%q) of unknown image: err = %v, want one wrapping imagestore.ErrNotFound", name, err)
		}
	}
}

func testCreate(t *testing.T, s imagestore.Store) {
	in := Sample("vm1")
	out := mustPut(t, s, in)
	if out.Generation != 1 {
		t.Fatalf("Put with Generation 0 returned Generation %d, want 1", out.Generation)
	}
	if got := mustGet(t, s, "vm1").Generation; got != 1 {
		t.Fatalf("Get after create: Generation %d, want 1", got)
	}
}

func testRoundTrip(t *testing.T, s imagestore.Store) {
	in := Sample("vm-rt")
	in.Checkpoint = "ckpt://shared/vm-rt/1"
	in.CheckpointGeneration = 41 // any value: the store keeps it, it does not judge it
	in.PreviousOwner = "blade-z"
	in.Priority = -3
	out := mustPut(t, s, in)
	want := in.Clone()
	want.Generation = 1
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("Put returned a different image (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, mustGet(t, s, "vm-rt")); d != "" {
		t.Errorf("Get returned a different image (-want +got):\n%s", d)
	}
	// Empty slices and nil slices are both "none": accept either, but the
	// length must be 0.
	bare := imagestore.Image{Name: "vm-bare", Owner: "blade-b"}
	mustPut(t, s, bare)
	got := mustGet(t, s, "vm-bare")
	if len(got.Definition) != 0 || len(got.Disks) != 0 {
		t.Errorf("image with no definition or disks came back with Definition %q, Disks %q", got.Definition, got.Disks)
	}
	got.Definition, got.Disks = nil, nil
	bare.Generation = 1
	if d := cmp.Diff(bare, got); d != "" {
		t.Errorf("bare image round trip (-want +got):\n%s", d)
	}
}

func testUpdate(t *testing.T, s imagestore.Store) {
	v1 := mustPut(t, s, Sample("vm1"))
	v1.Owner = "blade-b"
	v1.Checkpoint = "ckpt-1"
	v1.CheckpointGeneration = v1.Generation + 1
	v1.PreviousOwner = "blade-a"
	v2 := mustPut(t, s, v1)
	if v2.Generation != 2 {
		t.Fatalf("update at generation 1 returned Generation %d, want 2", v2.Generation)
	}
	got := mustGet(t, s, "vm1")
	if d := cmp.Diff(v2, got); d != "" {
		t.Fatalf("Get after update (-want +got):\n%s", d)
	}
}

func testStale(t *testing.T, s imagestore.Store) {
	v1 := mustPut(t, s, Sample("vm1"))
	a := v1.Clone()
	a.Owner = "blade-b"
	v2 := mustPut(t, s, a)
	b := v1.Clone() // still at generation 1
	b.Owner = "blade-c"
	b.Disks = []string{"/elsewhere"}
	_, err := s.Put(ctx(t), b)
	if !errors.Is(err, imagestore.ErrStaleGeneration) {
		t.Fatalf("Put at stale generation 1 (stored 2): err = %v, want one wrapping ErrStaleGeneration", err)
	}
	if d := cmp.Diff(v2, mustGet(t, s, "vm1")); d != "" {
		t.Fatalf("a refused stale Put changed the stored image (-want +got):\n%s", d)
	}
}

func testCreateExisting(t *testing.T, s imagestore.Store) {
	v1 := mustPut(t, s, Sample("vm1"))
	again := Sample("vm1")
	again.Owner = "blade-z"
	_, err := s.Put(ctx(t), again)
	if !errors.Is(err, imagestore.ErrStaleGeneration) {
		t.Fatalf("Put with Generation 0 of an existing image: err = %v, want one wrapping ErrStaleGeneration", err)
	}
	if d := cmp.Diff(v1, mustGet(t, s, "vm1")); d != "" {
		t.Fatalf("a refused create changed the stored image (-want +got):\n%s", d)
	}
}

func testFutureGeneration(t *testing.T, s imagestore.Store) {
	mustPut(t, s, Sample("vm1"))
	img := Sample("vm1")
	img.Generation = 5
	if _, err := s.Put(ctx(t), img); !errors.Is(err, imagestore.ErrStaleGeneration) {
		t.Fatalf("Put at generation 5 (stored 1): err = %v, want one wrapping ErrStaleGeneration", err)
	}
	img = Sample("never-stored")
	img.Generation = 3
	if _, err := s.Put(ctx(t), img); !errors.Is(err, imagestore.ErrStaleGeneration) && !errors.Is(err, imagestore.ErrNotFound) {
		t.Fatalf("Put at generation 3 of an unknown image: err = %v, want ErrStaleGeneration or ErrNotFound", err)
	}
	if _, err := s.Get(ctx(t), "never-stored"); !errors.Is(err, imagestore.ErrNotFound) {
		t.Fatalf("refused Put of unknown image at generation 3 created it: Get err = %v", err)
	}
}

func testInvalid(t *testing.T, s imagestore.Store) {
	bad := map[string]imagestore.Image{
		"empty name":      {Owner: "blade-a"},
		"empty owner":     {Name: "vm1"},
		"negative memory": {Name: "vm1", Owner: "blade-a", MemoryMiB: -1},
		"negative CPUs":   {Name: "vm1", Owner: "blade-a", CPUs: -2},
	}
	for what, img := range bad {
		if _, err := s.Put(ctx(t), img); !errors.Is(err, imagestore.ErrInvalidImage) {
			t.Errorf("Put of image with %s: err = %v, want one wrapping ErrInvalidImage", what, err)
		}
	}
	all, err := s.List(ctx(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(all) != 0 {
		t.Fatalf("invalid Puts stored %d images: %v", len(all), names(all))
	}
}

func names(imgs []imagestore.Image) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.Name
	}
	return out
}

func testListSorted(t *testing.T, s imagestore.Store) {
	in := []string{"web-2", "db", "web-10", "a", "Zed", "web-1"}
	for _, n := range in {
		mustPut(t, s, Sample(n))
	}
	all, err := s.List(ctx(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := slices.Clone(in)
	slices.Sort(want)
	if d := cmp.Diff(want, names(all)); d != "" {
		t.Fatalf("List names not sorted by name (-want +got):\n%s", d)
	}
	for _, img := range all {
		w := Sample(img.Name)
		w.Generation = 1
		if d := cmp.Diff(w, img); d != "" {
			t.Errorf("List entry %q differs from what was stored (-want +got):\n%s", img.Name, d)
		}
	}
}

func testListEmpty(t *testing.T, s imagestore.Store) {
	all, err := s.List(ctx(t))
	if err != nil {
		t.Fatalf("List of empty store: %v", err)
	}
	if len(all) != 0 {
		t.Fatalf("List of empty store returned %d images", len(all))
	}
}

func testDeepCopies(t *testing.T, s imagestore.Store) {
	stored := mustPut(t, s, Sample("vm1"))
	want := stored.Clone()

	stored.Definition[0] = 'X'
	stored.Disks[0] = "/tampered"
	g := mustGet(t, s, "vm1")
	g.Definition[1] = 'Y'
	g.Disks[1] = "/tampered-too"
	all, err := s.List(ctx(t))
	if err != nil || len(all) != 1 {
		t.Fatalf("List: %d images, err %v", len(all), err)
	}
	all[0].Definition[2] = 'Z'
	all[0].Disks[0] = "/tampered-by-list"

	if d := cmp.Diff(want, mustGet(t, s, "vm1")); d != "" {
		t.Fatalf("mutating slices returned by Put/Get/List changed the store (-want +got):\n%s", d)
	}
}

func testPutCopies(t *testing.T, s imagestore.Store) {
	in := Sample("vm1")
	want := in.Clone()
	want.Generation = 1
	mustPut(t, s, in)
	in.Definition[0] = 'X'
	in.Disks[0] = "/tampered"
	if d := cmp.Diff(want, mustGet(t, s, "vm1")); d != "" {
		t.Fatalf("store kept the caller's slices: mutating them after Put changed it (-want +got):\n%s", d)
	}
}

func testClaimOneWinner(t *testing.T, s imagestore.Store) {
	const n = 8
	base := mustPut(t, s, Sample("vm1"))
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		mu      sync.Mutex
		winners []string
		others  []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			owner := fmt.Sprintf("blade-%d", i)
			c, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			_, err := imagestore.Claim(c, s, base, owner)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, owner)
			} else {
				others = append(others, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d concurrent Claims on generation %d: %d won (%v), want exactly 1", n, base.Generation, len(winners), winners)
	}
	for _, err := range others {
		if !errors.Is(err, imagestore.ErrStaleGeneration) {
			t.Errorf("losing Claim: err = %v, want one wrapping ErrStaleGeneration", err)
		}
	}
	got := mustGet(t, s, "vm1")
	if got.Owner != winners[0] || got.Generation != base.Generation+1 {
		t.Fatalf("after Claim: Owner %q Generation %d, want %q at %d", got.Owner, got.Generation, winners[0], base.Generation+1)
	}
	if got.PreviousOwner != base.Owner {
		t.Fatalf("after Claim: PreviousOwner %q, want %q (the owner claimed from)", got.PreviousOwner, base.Owner)
	}
}

func testConcurrentDistinct(t *testing.T, s imagestore.Store) {
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			img := Sample(fmt.Sprintf("vm-%02d", i))
			if _, errs[i] = s.Put(c, img); errs[i] != nil {
				return
			}
			_, errs[i] = s.Get(c, img.Name)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Put/Get of vm-%02d: %v", i, err)
		}
	}
	all, err := s.List(ctx(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(all) != n {
		t.Fatalf("after %d concurrent creates List has %d images", n, len(all))
	}
}

func testCancelled(t *testing.T, s imagestore.Store) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(c, Sample("vm1"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			// A store may finish a fast local write before it looks at
			// ctx; what it must not do is hang.
			t.Logf("Put with a cancelled context succeeded (allowed for local stores)")
		} else if !errors.Is(err, context.Canceled) {
			t.Errorf("Put with a cancelled context: err = %v, want nil or one wrapping context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Put with a cancelled context did not return within 3s")
	}
}
