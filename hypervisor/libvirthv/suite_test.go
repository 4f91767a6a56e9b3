package libvirthv

import (
	"path/filepath"
	"testing"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/hypervisortest"
	"github.com/rackha/failover/imagestore"
)

// TestConformance runs hypervisortest against libvirt's test driver: each
// fixture is an empty host (its own node file) with a peer host sharing
// the checkpoint directory. The adapter enforces memory
// (Config.EnforceMemory), so EnforcesCapacity is true. Unreachable is a remote URI whose daemon
// socket does not exist: libvirt's own remote driver fails to connect.
func TestConformance(t *testing.T) {
	hypervisortest.Run(t, hypervisortest.Harness{
		Open: func(t *testing.T) hypervisortest.Fixture {
			dir := t.TempDir()
			disks, ckpt := filepath.Join(dir, "disks"), filepath.Join(dir, "ckpt")
			mkdirs(t, disks, ckpt, filepath.Join(dir, "b"))
			a := openHost(t, "hostB.xml", dir, disks, ckpt)
			b := openHost(t, "hostB.xml", filepath.Join(dir, "b"), disks, ckpt)
			return hypervisortest.Fixture{
				HV: a.hv,
				NewImage: func(name string) imagestore.Image {
					return testImage(t, disks, name, "a")
				},
				NewImageSized: func(name string, need hypervisor.Capacity) imagestore.Image {
					img := testImage(t, disks, name, "a")
					img.Definition = domainXML(name, uuidFor(name), int(need.MemoryMiB), need.CPUs, img.Disks...)
					img.MemoryMiB, img.CPUs = need.MemoryMiB, need.CPUs
					return img
				},
				BadImage: func(name string) imagestore.Image {
					img := testImage(t, disks, name, "a")
					img.Definition = []byte("<domain type='test'><name>" + name + "</name><uuid>")
					return img
				},
				Peer: b.hv,
			}
		},
		EnforcesCapacity: true,
		Unreachable: func(t *testing.T) hypervisor.Hypervisor {
			dir := t.TempDir()
			cfg := DefaultConfig("test+unix:///default?socket=" + filepath.Join(dir, "no-daemon.sock"))
			cfg.CheckpointDir = dir
			hv, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { hv.Close() })
			return hv
		},
	})
}
