package libvirthv_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/rackha/failover/hypervisor/libvirthv"
	"github.com/rackha/failover/imagestore"
)

// Start a VM from its image on libvirt's built-in test host, then stop it.
func ExampleHypervisor_Start() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "libvirthv-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "web1.qcow2")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		log.Fatal(err)
	}

	cfg := libvirthv.DefaultConfig("test:///default")
	cfg.Domain.ImageRoots = []string{dir} // disks may lie only here
	hv, err := libvirthv.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer hv.Close()

	img := imagestore.Image{
		Name: "web1",
		Definition: []byte(`<domain type='test'>
  <name>web1</name>
  <uuid>6f1d3c5e-7a1b-4c2d-9e0f-a1b2c3d4e501</uuid>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
  <os><type>hvm</type></os>
  <devices><disk type='file' device='disk'><source file='/old/path.qcow2'/><target dev='vda'/></disk></devices>
</domain>`),
		Disks: []string{disk}, // the disk on shared storage replaces the XML's path
		Owner: "server-b",
	}
	if err := hv.Start(ctx, img); err != nil {
		log.Fatal(err)
	}
	st, _ := hv.State(ctx, "web1")
	fmt.Println("web1:", st)

	if err := hv.Stop(ctx, "web1"); err != nil {
		log.Fatal(err)
	}
	st, _ = hv.State(ctx, "web1")
	fmt.Println("web1:", st)
	// Output:
	// web1: running
	// web1: stopped
}
