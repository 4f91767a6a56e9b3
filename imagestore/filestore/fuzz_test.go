package filestore

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/imagestore"
)

// FuzzDecode: decode never panics; what it accepts is a valid image of the
// wanted name that survives encode and decode unchanged; what it refuses
// wraps ErrCorrupt and names the file.
func FuzzDecode(f *testing.F) {
	good, _ := encode(imagestore.Image{Name: "vm1", Owner: "a", Generation: 3, Definition: []byte{0, 1, 0xff}, Disks: []string{"d"}, Priority: -1, MemoryMiB: 512, CPUs: 1})
	f.Add(good, "vm1")
	f.Add([]byte(`{"version":1,"name":"vm1","owner":"a","generation":1}`), "vm1")
	f.Add([]byte(`{"version":1,"name":"vm1","owner":"a","generation":1,"definition":"!!"}`), "vm1")
	f.Add([]byte(`{"version":1,"name":"vm1","owner":"a","generation":18446744073709551616}`), "vm1")
	withNew, _ := encode(imagestore.Image{Name: "vm1", Owner: "b", PreviousOwner: "a", Generation: 5, Checkpoint: "/c/vm1.save", CheckpointGeneration: 4})
	f.Add(withNew, "vm1")
	f.Add([]byte(`{"version":1,"name":"vm1","owner":"a","generation":2,"checkpointGeneration":-1}`), "vm1")
	f.Add([]byte(`[]`), "")
	f.Add([]byte(`null`), "")
	f.Fuzz(func(t *testing.T, data []byte, want string) {
		img, err := decode("f.json", want, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "f.json") {
				t.Fatalf("refusal %v does not wrap ErrCorrupt naming the file", err)
			}
			return
		}
		if img.Name != want || img.Generation == 0 {
			t.Fatalf("accepted %+v for wanted name %q", img, want)
		}
		if err := img.Validate(); err != nil {
			t.Fatalf("accepted an invalid image: %v", err)
		}
		again, err := encode(img)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decode("f.json", want, again)
		if err != nil {
			t.Fatalf("re-encoded image refused: %v", err)
		}
		if d := cmp.Diff(img, back); d != "" {
			t.Fatalf("encode/decode changed the image (-first +second):\n%s", d)
		}
	})
}

// FuzzFileName: every accepted name maps to one file name inside the
// directory that decodes back to it.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{"vm1", "../x", "..", ".", "a/b", "%41", "naïve", "\x00", ".lock"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		file, err := fileName(name)
		if err != nil {
			if name != "" && !errors.Is(err, imagestore.ErrInvalidImage) {
				t.Fatalf("fileName(%q): %v", name, err)
			}
			return
		}
		if strings.ContainsAny(file, "/\\\x00") || strings.HasPrefix(file, ".") || len(file) > maxFileName {
			t.Fatalf("fileName(%q) = %q: not a safe file name", name, file)
		}
		back, ok := imageName(file)
		if !ok || back != name {
			t.Fatalf("imageName(fileName(%q) = %q) = %q, %v", name, file, back, ok)
		}
	})
}
