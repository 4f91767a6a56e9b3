// Command ipmi-libvirt runs the failover method on real components: two
// blades, each with an OpenIPMI ipmi_sim BMC on loopback (read through the
// IPMI adapter) and a libvirt test-driver host (through the libvirt
// adapter), watching each other through a rack manager. Faults are injected
// through the simulators themselves:
//
//  1. blade a's CPU temperature is raised past its critical threshold
//     through ipmi_sim's console: b evacuates a's VMs (checkpoint on a,
//     restore on b), then power-cycles a;
//  2. blade b's OS hangs, so its BMC watchdog is left to expire and powers
//     b down: a fences b (read back), cold-starts every VM b ran, and
//     powers b back on.
//
// It prints the quickstart's timeline, or with -json the same JSON lines.
//
//	go run ./examples/ipmi-libvirt
//	go run ./examples/ipmi-libvirt -json
//
// Needs ipmi_sim (Debian package openipmi) and libvirt (libvirt0, and
// libvirt-dev with pkg-config to build). Runs in about 20 s.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
)

func main() {
	jsonOut := flag.Bool("json", false, "print one JSON object per line instead of a timeline")
	vms := flag.Int("vms", 2, "protected VMs per blade")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, *vms, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "ipmi-libvirt:", err)
		os.Exit(1)
	}
}

const (
	pollInterval = 300 * time.Millisecond
	settleWait   = 60 * time.Second // each fault's takeover and recovery
)

func run(ctx context.Context, w io.Writer, vms int, jsonOut bool) (err error) {
	if err := ipmisim.Available(); err != nil {
		return err
	}
	if vms < 1 || vms > 8 {
		return fmt.Errorf("-vms %d: want 1 to 8", vms)
	}
	dir, err := os.MkdirTemp("", "ipmi-libvirt")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	diskDir, ckptDir := filepath.Join(dir, "shared", "disks"), filepath.Join(dir, "shared", "checkpoints")
	if err := mkdirs(diskDir, ckptDir); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var servers []*server
	defer func() {
		cancel()
		for _, s := range servers {
			s.close()
		}
	}()
	for _, name := range []string{"a", "b"} {
		s, err := startServer(dir, name, vms, diskDir, ckptDir)
		if s != nil {
			servers = append(servers, s)
		}
		if err != nil {
			return fmt.Errorf("start blade %s: %w", name, err)
		}
	}
	a, b := servers[0], servers[1]

	// Protect every VM: capture it into the image store, owned by its blade.
	store := memstore.New()
	for _, s := range servers {
		list, err := s.hv.List(ctx)
		if err != nil {
			return err
		}
		for _, vm := range list {
			img, err := s.hv.Capture(ctx, vm.Name)
			if err != nil {
				return err
			}
			img.Owner = s.name
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
	lcfg.Topology, lcfg.Interval, lcfg.CallTimeout, lcfg.PowerTimeout, lcfg.Logger = topo, pollInterval, time.Second, 15*time.Second, quiet
	for _, s := range servers {
		lcfg.Servers = append(lcfg.Servers, rack.Server{Name: s.name, Sensors: s.bmc, Health: s.bmc, Watchdog: s.bmc, Power: s.bmc})
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
	for i, s := range servers {
		peer := servers[1-i]
		s.newMonitor = func() (*failover.Monitor, error) {
			return failover.NewMonitor(failover.Config{
				Server: s.name, Manager: local, Store: store, Hypervisor: s.hv,
				Peers:         map[string]hypervisor.Hypervisor{peer.name: peer.hv},
				Policy:        pol,
				ActionTimeout: 20 * time.Second,
				TickInterval:  200 * time.Millisecond,
				Logger:        quiet,
				OnEvent:       log.Record,
			})
		}
	}

	var bg sync.WaitGroup
	defer bg.Wait()
	bg.Add(1 + len(servers))
	go func() { defer bg.Done(); local.Run(ctx) }() //nolint:errcheck // returns at ctx's end
	bgErr := make(chan error, 4)
	for _, s := range servers {
		go func() {
			defer bg.Done()
			s.followPower(ctx, func(err error) {
				select {
				case bgErr <- err:
				default:
				}
			})
		}()
	}
	defer cancel() // stop the goroutines before bg.Wait

	if !jsonOut {
		fmt.Fprintf(w, "two blades (a, b) watching each other; ipmi_sim BMCs on 127.0.0.1:%d and :%d; libvirt test-driver hosts; %d protected VMs each\n",
			a.sim.Port, b.sim.Port, vms)
		fmt.Fprintf(w, "poll every %v, debounce %d polls, watchdog 3s; (+x) is time since the fault, a trailing +y time since detection\n",
			pollInterval, pol.DebouncePolls)
	}
	time.Sleep(4 * pollInterval) // watchdogs armed, first statuses in

	cpu, err := sensorNumber(a.sim, "CPU0 Temp")
	if err != nil {
		return err
	}
	faults := []struct {
		server *server
		kind   string
		inject func() error
		// repair runs when the failed blade has been restarted.
		repair func() error
	}{
		{a, "overheat", func() error { return a.sim.SetRaw(cpu.Number, cpu.Thresholds[4]+2) }, // 2 °C past critical
			func() error { return a.sim.SetRaw(cpu.Number, cpu.Raw) }},
		{b, "hang-os", func() error { b.hang(); return nil }, func() error { return nil }},
	}
	for _, f := range faults {
		log.Mark(f.server.name, f.kind, nil)
		if err := f.inject(); err != nil {
			return fmt.Errorf("inject %s on %s: %w", f.kind, f.server.name, err)
		}
		if err := settle(ctx, log, f.server.name, failover.EventRestarted, bgErr); err != nil {
			return fmt.Errorf("%s on %s: %w", f.kind, f.server.name, err)
		}
		if err := f.repair(); err != nil {
			return err
		}
		if err := settle(ctx, log, f.server.name, failover.EventRecovered, bgErr); err != nil {
			return fmt.Errorf("%s on %s: %w (last status: %s)", f.kind, f.server.name, err, lastStatus(local, f.server.name))
		}
	}
	if err := log.Err(); err != nil {
		return err
	}
	return placement(ctx, w, servers, vms, jsonOut)
}

// placement checks that every VM runs on exactly one blade and prints where.
func placement(ctx context.Context, w io.Writer, servers []*server, vms int, jsonOut bool) error {
	hvs := map[string]hypervisor.Hypervisor{}
	for _, x := range servers {
		hvs[x.name] = x.hv
	}
	where, err := hypervisor.Placement(ctx, hvs)
	if err != nil {
		return err
	}
	if err := hypervisor.CheckPlacement(where); err != nil {
		return err
	}
	if len(where) != len(servers)*vms {
		return fmt.Errorf("%d VMs run, want %d", len(where), len(servers)*vms)
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

// lastStatus says why a server is not healthy, for errors.
func lastStatus(l *rack.Local, server string) string {
	st, ok := l.Journal(server).Last()
	if !ok {
		return "none"
	}
	return fmt.Sprintf("reachable=%v err=%q power=%v fault=%v %q watchdog=%+v known=%v %q",
		st.Reachable, st.Err, st.Health.Power, st.Health.Fault, st.Health.Detail, st.Watchdog, st.WatchdogKnown, st.WatchdogErr)
}

func sensorNumber(s *ipmisim.Sim, name string) (ipmisim.Sensor, error) {
	for _, sn := range s.Sensors() {
		if sn.Name == name {
			return sn, nil
		}
	}
	return ipmisim.Sensor{}, fmt.Errorf("sensor %q not found", name)
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}
