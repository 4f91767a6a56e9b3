package demosim_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/internal/demosim"
)

// The orchestrator owns the simulated hardware and serves it; the other
// processes (here, the same one) reach it through clients.
func Example() {
	dir, _ := os.MkdirTemp("", "demosim")
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "sim.sock")

	// Orchestrator: one coupled BMC and hypervisor per server, on shared
	// storage, served on the socket.
	storage := memhv.NewStorage()
	bmcs, hvs := map[string]*simbmc.BMC{}, map[string]*memhv.Hypervisor{}
	for _, name := range []string{"blade-a", "blade-b"} {
		hcfg := memhv.DefaultConfig(name)
		hcfg.Storage = storage
		b, h, err := demosim.NewHost(simbmc.DefaultConfig(name), hcfg)
		if err != nil {
			panic(err)
		}
		bmcs[name], hvs[name] = b, h
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- demosim.Serve(ctx, ln, bmcs, hvs) }()

	// A monitor process starts a VM on its own host.
	hvA, _ := demosim.NewHypervisor(socket, "blade-a")
	_ = hvA.Start(ctx, imagestore.Image{Name: "db", Owner: "blade-a", Generation: 1, Definition: []byte("<domain/>"), MemoryMiB: 1024, CPUs: 1})
	fmt.Println("db runs on", storage.Running("db"))

	// The rack manager process fences blade-a through its BMC: the VM
	// goes down with the host.
	bmcA, _ := demosim.NewBMC(socket, "blade-a")
	fmt.Println("fence:", bmcA.SetPower(ctx, bmc.PowerActionOff))
	fmt.Println("db runs on", storage.Running("db"))

	stop()
	fmt.Println("served:", <-served)
	// Output:
	// db runs on [blade-a]
	// fence: <nil>
	// db runs on []
	// served: <nil>
}
