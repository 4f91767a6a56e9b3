package vspherehv_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"

	"github.com/vmware/govmomi/simulator"

	"github.com/rackha/failover/hypervisor/vspherehv"
	"github.com/rackha/failover/imagestore"
)

// One Hypervisor per ESXi host; here against govmomi's vCenter simulator
// on loopback, trusting its self-signed certificate through RootCAs.
func Example() {
	model := simulator.VPX()
	model.Host, model.ClusterHost, model.Machine = 0, 2, 0
	if err := model.Create(); err != nil {
		panic(err)
	}
	defer model.Remove()
	model.Service.TLS = new(tls.Config)
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword("admin", "example-pw")}
	srv := model.Service.NewServer()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	sdk := *srv.URL
	sdk.User = nil

	ctx := context.Background()
	cfg := vspherehv.DefaultConfig(sdk.String(), "DC0_C0_H1")
	cfg.Username, cfg.Password, cfg.RootCAs = "admin", "example-pw", roots
	cfg.Datastores = []string{"LocalDS_0"} // images may name only the shared datastore
	hv, err := vspherehv.New(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hv.Close()

	// The create form: a new VM from stored configuration.
	img := imagestore.Image{
		Name:       "web1",
		Definition: []byte(`{"guestId": "otherGuest64", "datastore": "LocalDS_0"}`),
		Owner:      "blade-b", MemoryMiB: 512, CPUs: 1,
	}
	if err := hv.Start(ctx, img); err != nil {
		fmt.Println(err)
		return
	}
	vms, _ := hv.List(ctx)
	for _, vm := range vms {
		fmt.Println(vm.Name, vm.State, vm.MemoryMiB, "MiB", vm.CPUs, "CPU")
	}
	captured, _ := hv.Capture(ctx, "web1")
	fmt.Printf("captured: %s\n", captured.Definition)
	fmt.Println("password shown:", strings.Contains(cfg.String(), cfg.Password))
	// Output:
	// web1 running 512 MiB 1 CPU
	// captured: [LocalDS_0] web1/web1.vmx
	// password shown: false
}
