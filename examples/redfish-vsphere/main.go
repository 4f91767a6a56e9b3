// Command redfish-vsphere runs the failover method on a Redfish enclosure
// and a vCenter: two blades of the DMTF "public-bladed" mockup, served by
// the project's Redfish test server and read through the Redfish adapter,
// each an ESXi host of govmomi's vCenter simulator driven through the
// vSphere adapter. Both simulators run in-process on 127.0.0.1 over TLS.
// The blades watch each other through a rack manager; faults are written
// into the Redfish simulator:
//
//  1. blade a's CPU temperature passes its critical threshold: b evacuates
//     a's VMs (suspended on a, re-registered and resumed on b), then
//     restarts a;
//  2. blade b reports itself failed (Status.Health Critical, and an event
//     on the Server-Sent Events stream): a fences b (Reset ForceOff, read
//     back), vCenter marks b's host not responding, a takes b's VMs out of
//     the inventory and starts them on its own host, then powers b on.
//
// It prints the quickstart's timeline, or with -json the same JSON lines.
//
//	go run ./examples/redfish-vsphere
//	go run ./examples/redfish-vsphere -json
//
// Needs nothing installed: run it from the module, whose ../shared folder
// holds the Redfish mockups (or give -mockup). Runs in about 10 s.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
)

func main() {
	jsonOut := flag.Bool("json", false, "print one JSON object per line instead of a timeline")
	vms := flag.Int("vms", 2, "protected VMs per blade")
	mockup := flag.String("mockup", "", "folder of the public-bladed Redfish mockup (default: found in ../shared beside the module)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, *mockup, *vms, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "redfish-vsphere:", err)
		os.Exit(1)
	}
}

const (
	pollInterval = 300 * time.Millisecond
	settleWait   = 60 * time.Second // each fault's takeover and recovery
	rfUser       = "admin"
	rfPass       = "rf-Secret1" // the simulator's; never printed
)

func run(ctx context.Context, w io.Writer, mockup string, vms int, jsonOut bool) error {
	if vms < 1 || vms > 25 {
		return fmt.Errorf("-vms %d: want 1 to 25", vms)
	}
	if mockup == "" {
		var err error
		if mockup, err = redfishsim.MockupDir("public-bladed"); err != nil {
			return err
		}
	}
	// ResetDelay: a restart shows as PoweringOn for a while, as on real
	// blades, so the blade's host is seen going down and coming back.
	rf, err := redfishsim.New(mockup, redfishsim.Options{Username: rfUser, Password: rfPass, EventsOnReset: true, ResetDelay: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	defer rf.Close()
	vc, err := startVCenter(ctx)
	if err != nil {
		return err
	}
	defer vc.close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &blade{name: "a", sys: "529QB9450R6", chassis: "Blade1", esx: "DC0_C0_H0", on: true}
	b := &blade{name: "b", sys: "529QB9451R6", chassis: "Blade2", esx: "DC0_C0_H1", on: true}
	blades := []*blade{a, b}
	defer func() {
		cancel()
		for _, bl := range blades {
			bl.close()
		}
	}()
	store := memstore.New()
	for _, bl := range blades {
		if err := vc.sizeHost(bl.esx, 64<<10, 64); err != nil { // room for every VM of both blades
			return err
		}
		if err := vc.createVMs(ctx, bl.esx, bl.name, vms); err != nil {
			return err
		}
		if err := bl.open(ctx, rf, vc); err != nil {
			return err
		}
		// Protect every VM: capture it (its .vmx path on the shared
		// datastore) into the image store, owned by its blade.
		list, err := bl.hv.List(ctx)
		if err != nil {
			return err
		}
		for _, vm := range list {
			img, err := bl.hv.Capture(ctx, vm.Name)
			if err != nil {
				return err
			}
			if _, err := store.Put(ctx, img); err != nil {
				return err
			}
		}
	}

	topo, err := rack.Pairs("a", "b")
	if err != nil {
		return err
	}
	lcfg := rack.DefaultLocalConfig()
	lcfg.Topology, lcfg.Interval, lcfg.CallTimeout, lcfg.PowerTimeout, lcfg.Logger = topo, pollInterval, 2*time.Second, 15*time.Second, quiet
	for _, bl := range blades {
		lcfg.Servers = append(lcfg.Servers, rack.Server{Name: bl.name, Sensors: bl.bmc, Health: bl.bmc, Power: bl.bmc})
	}
	local, err := rack.NewLocal(lcfg)
	if err != nil {
		return err
	}

	log := failover.NewTimeline(w, jsonOut, nil)
	pol := failover.DefaultPolicy()
	pol.DebouncePolls = 2
	pol.RetryInterval = time.Second
	pol.EvacuationTimeout = 20 * time.Second
	pol.RecoveryTimeout = 30 * time.Second
	// govmomi v0.56.0's simulator races with itself when one VM is
	// unregistered while another is being registered (Datastore.resolve
	// reads what RemoveReference writes; seen under -race): start one VM
	// at a time here. A real vCenter takes them in parallel.
	pol.MaxParallelStarts = 1
	for i, bl := range blades {
		peer := blades[1-i]
		bl.newMonitor = func() (*failover.Monitor, error) {
			return failover.NewMonitor(failover.Config{
				Server: bl.name, Manager: local, Store: store, Hypervisor: bl.hv,
				Peers:         map[string]hypervisor.Hypervisor{peer.name: peer.hv},
				Policy:        pol,
				ActionTimeout: 45 * time.Second,
				TickInterval:  200 * time.Millisecond,
				Logger:        quiet,
				OnEvent:       log.Record,
			})
		}
	}

	var bg sync.WaitGroup
	defer bg.Wait()
	bgErr := make(chan error, 4)
	report := func(err error) {
		select {
		case bgErr <- err:
		default:
		}
	}
	bg.Add(1)
	go func() { defer bg.Done(); _ = local.Run(ctx) }() // returns at ctx's end
	for _, bl := range blades {
		if err := bl.boot(ctx); err != nil {
			return err
		}
		evs, err := bl.bmc.Events(ctx)
		if err != nil {
			return err
		}
		bg.Add(2)
		go func() { // a BMC event polls that blade at once
			defer bg.Done()
			for range evs {
				_, _ = local.PollServer(ctx, bl.name)
			}
		}()
		go func() { defer bg.Done(); bl.followPower(ctx, rf, vc, report) }()
	}
	defer cancel() // stop the goroutines before bg.Wait

	if !jsonOut {
		fmt.Fprintf(w, "two blades (a, b) of a Redfish enclosure at %s watching each other; ESXi hosts %s and %s of a vCenter at %s; %d protected VMs each\n",
			rf.URL, a.esx, b.esx, vc.url, vms)
		fmt.Fprintf(w, "poll every %v, debounce %d polls; (+x) is time since the fault, a trailing +y time since detection\n",
			pollInterval, pol.DebouncePolls)
	}
	time.Sleep(4 * pollInterval) // first statuses in

	thermal := "/redfish/v1/Chassis/" + a.chassis + "/Thermal"
	setCPUTemp := func(c float64) error {
		th, ok := rf.Get(thermal)
		if !ok {
			return fmt.Errorf("no %s in the mockup", thermal)
		}
		temps, _ := th["Temperatures"].([]any)
		if len(temps) == 0 {
			return fmt.Errorf("%s has no temperatures", thermal)
		}
		temps[0].(map[string]any)["ReadingCelsius"] = c
		return rf.Set(thermal, map[string]any{"Temperatures": temps})
	}
	setHealth := func(bl *blade, health, severity, msg string) error {
		if err := rf.Set(bl.sysPath(), map[string]any{"Status": map[string]any{"Health": health}}); err != nil {
			return err
		}
		rf.Publish(redfishsim.Event{Origin: bl.sysPath(), Severity: severity, Message: msg})
		return nil
	}
	faults := []struct {
		blade  *blade
		kind   string
		inject func() error
		repair func() error // once the blade has been restarted
	}{
		{a, "overheat", func() error { return setCPUTemp(92) }, // critical 90 °C
			func() error { return setCPUTemp(62) }},
		{b, "blade-fault", func() error { return setHealth(b, "Critical", "Critical", "processor IERR") },
			func() error { return setHealth(b, "OK", "OK", "processor replaced") }},
	}
	for _, f := range faults {
		log.Mark(f.blade.name, f.kind, nil)
		if err := f.inject(); err != nil {
			return fmt.Errorf("inject %s on %s: %w", f.kind, f.blade.name, err)
		}
		if err := settle(ctx, log, f.blade.name, failover.EventRestarted, bgErr); err != nil {
			return fmt.Errorf("%s on %s: %w", f.kind, f.blade.name, err)
		}
		if err := f.repair(); err != nil {
			return err
		}
		if err := settle(ctx, log, f.blade.name, failover.EventRecovered, bgErr); err != nil {
			return fmt.Errorf("%s on %s: %w", f.kind, f.blade.name, err)
		}
	}
	if err := log.Err(); err != nil {
		return err
	}
	return placement(ctx, w, blades, vms, jsonOut)
}

// placement checks that every VM runs on exactly one blade and prints where.
func placement(ctx context.Context, w io.Writer, blades []*blade, vms int, jsonOut bool) error {
	hvs := map[string]hypervisor.Hypervisor{}
	for _, x := range blades {
		hvs[x.name] = x.hv
	}
	where, err := hypervisor.Placement(ctx, hvs)
	if err != nil {
		return err
	}
	if err := hypervisor.CheckPlacement(where); err != nil {
		return err
	}
	if len(where) != len(blades)*vms {
		return fmt.Errorf("%d VMs run, want %d", len(where), len(blades)*vms)
	}
	if !jsonOut {
		fmt.Fprintf(w, "\nboth faults handled; every VM runs on exactly one blade:")
		for _, n := range slices.Sorted(maps.Keys(where)) {
			fmt.Fprintf(w, " %s@%s", n, where[n][0])
		}
		fmt.Fprintln(w)
	}
	return nil
}
