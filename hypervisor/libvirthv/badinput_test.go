package libvirthv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// Each bad image is refused with the right sentinel and a message naming
// the problem, and B is left exactly as it was.
func TestStartBadInput(t *testing.T) {
	r := newRack(t, "hostB.xml")
	r.protect(t)
	web1 := r.aImages[1]
	garbage := filepath.Join(r.ckpt, "garbage.save")
	if err := os.WriteFile(garbage, []byte("not a libvirt save image at all, just text"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := testImage(t, r.disks, "other", "a")

	tests := []struct {
		name    string
		edit    func(img *imagestore.Image)
		want    error
		message string
	}{
		{"malformed XML", func(img *imagestore.Image) { img.Definition = []byte("<domain type='test'><name>web1</name") }, hypervisor.ErrBadImage, "does not parse"},
		{"empty definition, no checkpoint", func(img *imagestore.Image) { img.Definition = nil }, hypervisor.ErrBadImage, "neither a Definition nor a Checkpoint"},
		{"not a domain", func(img *imagestore.Image) { img.Definition = []byte("<network><name>web1</name></network>") }, hypervisor.ErrBadImage, "does not parse"},
		{"no UUID", func(img *imagestore.Image) {
			img.Definition = []byte(strings.Replace(string(img.Definition), "<uuid>", "<!--", 1))
			img.Definition = []byte(strings.Replace(string(img.Definition), "</uuid>", "-->", 1))
		}, hypervisor.ErrBadImage, "no <uuid>"},
		{"name differs", func(img *imagestore.Image) { img.Name = "web2" }, hypervisor.ErrBadImage, `names "web1"`},
		{"missing disk", func(img *imagestore.Image) {
			img.Disks = []string{img.Disks[0], filepath.Join(r.disks, "gone.qcow2")}
		}, hypervisor.ErrBadImage, "gone.qcow2"},
		{"disk count differs", func(img *imagestore.Image) { img.Disks = img.Disks[:1] }, hypervisor.ErrBadImage, "2 file or block disks, the image names 1"},
		{"absurd memory", func(img *imagestore.Image) {
			img.Definition = []byte(strings.Replace(string(img.Definition), "<memory unit='KiB'>1048576</memory>", "<memory unit='TiB'>99999999999</memory>", 1))
		}, hypervisor.ErrBadImage, "overflows"},
		{"more memory than the host", func(img *imagestore.Image) {
			img.Definition = []byte(strings.Replace(string(img.Definition), "<memory unit='KiB'>1048576</memory>", "<memory unit='GiB'>17</memory>", 1))
		}, hypervisor.ErrNoCapacity, "needs 17408 MiB"},
		{"checkpoint missing", func(img *imagestore.Image) { img.Checkpoint = filepath.Join(r.ckpt, "none.save") }, hypervisor.ErrBadImage, "does not exist"},
		{"checkpoint of a later generation", func(img *imagestore.Image) {
			img.Checkpoint, img.CheckpointGeneration, img.Generation = garbage, 3, 7
		}, hypervisor.ErrBadImage, "recorded at generation 3, so only generation 4 may resume it, not 7"},
		{"checkpoint garbage", func(img *imagestore.Image) { img.Checkpoint = garbage }, hypervisor.ErrBadImage, "cannot be read"},
		{"UUID of another VM here", func(img *imagestore.Image) {
			img.Definition = []byte(strings.Replace(string(img.Definition), "<name>web1</name>", "<name>web9</name>", 1))
			img.Name = "web9"
		}, hypervisor.ErrNameTaken, "belongs to domain"},
	}
	if err := r.b.hv.Start(testCtx(t), web1); err != nil { // for the UUID case
		t.Fatal(err)
	}
	if err := r.b.hv.Stop(testCtx(t), "web1"); err != nil {
		t.Fatal(err)
	}
	if err := r.b.hv.Start(testCtx(t), other); err != nil {
		t.Fatal(err)
	}
	before := states(t, r.b.hv)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := web1.Clone()
			tc.edit(&img)
			err := r.b.hv.Start(testCtx(t), img)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start: %v, want %v", err, tc.want)
			}
			t.Logf("%v", err)
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not say %q", err, tc.message)
			}
			if diff := cmp.Diff(before, states(t, r.b.hv)); diff != "" {
				t.Errorf("B changed after a refused Start (-before +after):\n%s", diff)
			}
		})
	}
}

// B already runs another VM (another UUID) called web1: the takeover of
// A's web1 is refused with ErrNameTaken and the other VM is untouched.
func TestStartNameTakenOnPeer(t *testing.T) {
	r := newRack(t, "hostB-web1-taken.xml")
	r.protect(t)
	web1 := r.aImages[1]
	for _, cold := range []bool{true, false} {
		img := web1.Clone()
		if !cold {
			ref, err := r.a.hv.Checkpoint(testCtx(t), "web1")
			if err != nil {
				t.Fatal(err)
			}
			img.Checkpoint = ref
		}
		err := r.b.hv.Start(testCtx(t), img)
		if !errors.Is(err, hypervisor.ErrNameTaken) {
			t.Fatalf("Start (cold %v) of web1 on B: %v, want ErrNameTaken", cold, err)
		}
		got, err := r.b.hv.Capture(testCtx(t), "web1")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(got.Definition), "0badc0de-0000-4000-8000-000000000001") {
			t.Errorf("B's own web1 was replaced:\n%s", got.Definition)
		}
		if st, _ := r.b.hv.State(testCtx(t), "web1"); st != hypervisor.StateRunning {
			t.Errorf("B's own web1 is %v, want running", st)
		}
	}
}

// A cold start points the VM's disks at the image's references.
func TestStartUsesImageDisks(t *testing.T) {
	r := newRack(t, "hostB.xml")
	r.protect(t)
	img := r.aImages[1].Clone()
	img.Disks = makeDisks(t, r.disks, "web1-root-copy.qcow2", "web1-data-copy.qcow2")
	if err := r.b.hv.Start(testCtx(t), img); err != nil {
		t.Fatal(err)
	}
	got, err := r.b.hv.Capture(testCtx(t), "web1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(img.Disks, got.Disks); diff != "" {
		t.Errorf("disks of web1 on B (-want +got):\n%s", diff)
	}
}
