package filestore

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"pgregory.net/rapid"
)

// TestMatchesMemstore runs random Put/Get/List sequences (valid and
// invalid images, stale and fresh generations, awkward names) against a
// filestore, a second filestore on the same directory and memstore, and
// checks that all three answer alike.
func TestMatchesMemstore(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		a, err := Open(dir)
		if err != nil {
			rt.Fatal(err)
		}
		defer a.Close()
		b, err := Open(dir)
		if err != nil {
			rt.Fatal(err)
		}
		defer b.Close()
		m := memstore.New()
		ctx := context.Background()
		names := rapid.SampledFrom([]string{"vm1", "vm2", "../x", ".hidden", "a b", "%", ""})
		files := []*Store{a, b}
		for i := range rapid.IntRange(1, 30).Draw(rt, "steps") {
			fs := files[i%2]
			switch rapid.IntRange(0, 2).Draw(rt, "op") {
			case 0:
				img := imagestore.Image{
					Name:       names.Draw(rt, "name"),
					Owner:      rapid.SampledFrom([]string{"a", "b", ""}).Draw(rt, "owner"),
					Generation: rapid.Uint64Range(0, 3).Draw(rt, "gen"),
					Definition: rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(rt, "def"),
					Disks:      rapid.SliceOfN(rapid.StringN(0, 5, -1), 0, 3).Draw(rt, "disks"),
					Checkpoint: rapid.StringN(0, 5, -1).Draw(rt, "ckpt"),
					Priority:   rapid.IntRange(-3, 3).Draw(rt, "prio"),
					MemoryMiB:  rapid.Int64Range(-1, 4096).Draw(rt, "mem"),
					CPUs:       rapid.IntRange(-1, 8).Draw(rt, "cpus"),
				}
				got, gerr := fs.Put(ctx, img)
				want, werr := m.Put(ctx, img)
				same(rt, "Put", got, want, gerr, werr)
			case 1:
				n := names.Draw(rt, "name")
				got, gerr := fs.Get(ctx, n)
				want, werr := m.Get(ctx, n)
				same(rt, "Get "+n, got, want, gerr, werr)
			case 2:
				got, gerr := fs.List(ctx)
				want, werr := m.List(ctx)
				same(rt, "List", got, want, gerr, werr)
			}
		}
	})
}

// same compares results, treating nil and empty slices alike and errors
// by sentinel.
func same[T any](rt *rapid.T, op string, got, want T, gerr, werr error) {
	for _, s := range []error{imagestore.ErrNotFound, imagestore.ErrStaleGeneration, imagestore.ErrInvalidImage} {
		if errors.Is(gerr, s) != errors.Is(werr, s) {
			rt.Fatalf("%s: filestore err %v, memstore err %v", op, gerr, werr)
		}
	}
	if (gerr == nil) != (werr == nil) {
		rt.Fatalf("%s: filestore err %v, memstore err %v", op, gerr, werr)
	}
	if d := cmp.Diff(want, got, cmpEmpty); d != "" {
		rt.Fatalf("%s: filestore differs from memstore (-memstore +filestore):\n%s", op, d)
	}
}

var cmpEmpty = cmp.FilterValues(func(x, y any) bool {
	return isEmpty(x) && isEmpty(y)
}, cmp.Comparer(func(_, _ any) bool { return true }))

func isEmpty(v any) bool {
	switch s := v.(type) {
	case []byte:
		return len(s) == 0
	case []string:
		return len(s) == 0
	case []imagestore.Image:
		return len(s) == 0
	}
	return false
}
