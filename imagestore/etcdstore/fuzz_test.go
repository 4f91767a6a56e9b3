package etcdstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/imagestore"
)

// FuzzDecode: decode never panics; what it accepts is a valid image of the
// wanted name that survives encode and decode unchanged; what it refuses
// wraps ErrCorrupt and names the key. Seeds: testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	good, err := encode(imagestore.Image{Name: "vm1", Owner: "b", PreviousOwner: "a", Generation: 4,
		Definition: []byte{0, 1, 0xff}, Disks: []string{"/d/1"}, Checkpoint: "/c/vm1", CheckpointGeneration: 3,
		Priority: -2, MemoryMiB: 512, CPUs: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "vm1")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		const key = "/p/images/k"
		img, err := decode(key, name, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"`+key+`"`) {
				t.Fatalf("refusal %v does not wrap ErrCorrupt naming the key", err)
			}
			return
		}
		if img.Name != name || img.Generation == 0 {
			t.Fatalf("accepted %+v for wanted name %q", img, name)
		}
		if err := img.Validate(); err != nil {
			t.Fatalf("accepted an invalid image: %v", err)
		}
		again, err := encode(img)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decode(key, name, again)
		if err != nil {
			t.Fatalf("re-encoded image refused: %v", err)
		}
		if d := cmp.Diff(img, back); d != "" {
			t.Fatalf("encode/decode changed the image (-first +second):\n%s", d)
		}
	})
}
