// Command ipmi-kvm runs the failover method on real virtual machines: two
// blades, each an OpenIPMI ipmi_sim BMC (read through the IPMI adapter) in
// front of a libvirt QEMU host (a libvirtd of its own, through the libvirt
// adapter), watching each other through a rack manager. Each blade runs
// one real guest (Debian's cloud kernel and a busybox initramfs built at
// start) that counts on its serial console and its disk.
//
// Blade a's CPU temperature is raised past its critical threshold through
// ipmi_sim's console: b evacuates a's guest (checkpoint with memory on a,
// resume on b) and power-cycles a. The timeline is printed, then the
// guest's counter across the move: it goes on from its in-memory value,
// with no reboot.
//
//	go run ./examples/ipmi-kvm
//	go run ./examples/ipmi-kvm -json
//
// Needs root, ipmi_sim (Debian package openipmi) and what
// scripts/install-test-deps.sh installs for QEMU guests. Guests run under
// KVM when a probe guest boots under it, else under TCG. Runs in about a
// minute on two cores.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/ipmibmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/libvirthv"
	"github.com/rackha/failover/imagestore/filestore"
	"github.com/rackha/failover/internal/qemurig"
	"github.com/rackha/failover/rack"
)

func main() {
	jsonOut := flag.Bool("json", false, "print one JSON object per line instead of a timeline")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "ipmi-kvm:", err)
		os.Exit(1)
	}
}

var quiet = slog.New(slog.DiscardHandler)

// blade is one server: its BMC, its QEMU host and the guest it runs.
type blade struct {
	name  string
	sim   *ipmisim.Sim
	bmc   *ipmibmc.BMC
	hv    *libvirthv.Hypervisor // Stop: graceful, then destroy
	power *libvirthv.Hypervisor // Stop: destroy at once, as losing power does
	guest qemurig.Guest
}

func run(ctx context.Context, w io.Writer, jsonOut bool) error {
	if err := ipmisim.Available(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ipmi-kvm")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rig, err := qemurig.New(filepath.Join(dir, "rig"))
	defer rig.Stop()
	if err != nil {
		return err
	}
	kvm, why, err := rig.ProbeKVM(rig.A, 5*time.Second)
	if err != nil {
		return err
	}
	accel := map[bool]string{true: "kvm", false: "qemu"}[kvm]

	var blades []*blade
	defer func() {
		for _, b := range blades {
			b.close()
		}
	}()
	for _, h := range []*qemurig.Host{rig.A, rig.B} {
		b, err := startBlade(ctx, dir, rig, h, accel)
		if b != nil {
			blades = append(blades, b)
		}
		if err != nil {
			return fmt.Errorf("blade %s: %w", h.Name, err)
		}
	}
	a, b := blades[0], blades[1]

	store, err := filestore.Open(filepath.Join(rig.Shared, "images"))
	if err != nil {
		return err
	}
	defer store.Close()
	for _, bl := range blades {
		img, err := bl.hv.Capture(ctx, bl.guest.Name)
		if err != nil {
			return err
		}
		img.Owner = bl.name
		if _, err := store.Put(ctx, img); err != nil {
			return err
		}
	}

	topo, err := rack.Pairs("a", "b")
	if err != nil {
		return err
	}
	lcfg := rack.DefaultLocalConfig()
	lcfg.Topology, lcfg.Interval, lcfg.CallTimeout, lcfg.PowerTimeout, lcfg.Logger = topo, 300*time.Millisecond, time.Second, 15*time.Second, quiet
	for _, bl := range blades {
		lcfg.Servers = append(lcfg.Servers, rack.Server{Name: bl.name, Sensors: bl.bmc, Health: bl.bmc, Power: bl.bmc})
	}
	local, err := rack.NewLocal(lcfg)
	if err != nil {
		return err
	}
	tl := failover.NewTimeline(w, jsonOut, nil)
	pol := failover.DefaultPolicy()
	pol.DebouncePolls = 2
	pol.RetryInterval = time.Second
	pol.EvacuationTimeout = time.Minute
	pol.RecoveryTimeout = time.Minute

	ctx, cancel := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	bg.Add(1)
	go func() { defer bg.Done(); local.Run(ctx) }() //nolint:errcheck // returns at ctx's end
	for i, bl := range blades {
		peer := blades[1-i]
		mon, err := failover.NewMonitor(failover.Config{
			Server: bl.name, Manager: local, Store: store, Hypervisor: bl.hv,
			Peers:  map[string]hypervisor.Hypervisor{peer.name: peer.hv},
			Policy: pol, ActionTimeout: time.Minute, TickInterval: 200 * time.Millisecond,
			Logger: quiet, OnEvent: tl.Record,
		})
		if err != nil {
			return err
		}
		bg.Add(2)
		go func() { defer bg.Done(); mon.Run(ctx) }() //nolint:errcheck // returns at ctx's end
		go func() { defer bg.Done(); bl.followPower(ctx) }()
	}

	if !jsonOut {
		fmt.Fprintf(w, "two blades (a, b); ipmi_sim BMCs on 127.0.0.1:%d and :%d; libvirt QEMU hosts, guests under %s (%s)\n",
			a.sim.Port, b.sim.Port, map[bool]string{true: "KVM", false: "TCG"}[kvm], why)
		fmt.Fprintf(w, "a runs %s, b runs %s; (+x) is time since the fault\n", a.guest.Name, b.guest.Name)
	}
	time.Sleep(2 * time.Second) // first statuses in

	cpu, err := sensorNamed(a.sim, "CPU0 Temp")
	if err != nil {
		return err
	}
	tl.Mark("a", "overheat", []string{a.guest.Name})
	if err := a.sim.SetRaw(cpu.Number, cpu.Thresholds[4]+2); err != nil { // 2 °C past critical
		return err
	}
	if err := waitFor(ctx, tl, "a", failover.EventRestarted); err != nil {
		return err
	}
	if err := a.sim.SetRaw(cpu.Number, cpu.Raw); err != nil { // cooled down after the restart
		return err
	}
	if err := waitFor(ctx, tl, "a", failover.EventRecovered); err != nil {
		return err
	}
	if err := tl.Err(); err != nil {
		return err
	}
	return report(ctx, w, blades, jsonOut)
}

// report checks where each guest runs and how its counter moved.
func report(ctx context.Context, w io.Writer, blades []*blade, jsonOut bool) error {
	hvs := map[string]hypervisor.Hypervisor{}
	for _, bl := range blades {
		hvs[bl.name] = bl.hv
	}
	where, err := hypervisor.Placement(ctx, hvs)
	if err != nil {
		return err
	}
	if err := hypervisor.CheckPlacement(where); err != nil {
		return err
	}
	moved := blades[0].guest
	if got := where[moved.Name]; len(got) != 1 || got[0] != "b" {
		return fmt.Errorf("%s runs on %v, want b", moved.Name, got)
	}
	before := readSerial(moved)
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := qemurig.WaitSerial(wait, moved.Serial, func(s qemurig.Serial) bool { return s.Last().N > before.Last().N })
	if err != nil {
		return err
	}
	for i := 1; i < len(s.Ticks); i++ {
		if s.Ticks[i].N != s.Ticks[i-1].N+1 || s.Ticks[i].Boot != 1 {
			return fmt.Errorf("%s's counter: tick %+v after %+v, want the next of boot 1", moved.Name, s.Ticks[i], s.Ticks[i-1])
		}
	}
	if len(s.Boots) != 1 {
		return fmt.Errorf("%s booted %d times, want once: the move restarted it", moved.Name, len(s.Boots))
	}
	if !jsonOut {
		fmt.Fprintf(w, "\n%s runs on b only; its counter reached %d, one boot: it moved with its memory, not by a reboot\n", moved.Name, s.Last().N)
	}
	return nil
}

func readSerial(g qemurig.Guest) qemurig.Serial {
	s, _ := qemurig.ReadSerial(g.Serial)
	return s
}

func startBlade(ctx context.Context, dir string, rig *qemurig.Rig, h *qemurig.Host, accel string) (*blade, error) {
	b := &blade{name: h.Name}
	bmcDir := filepath.Join(dir, h.Name+"-bmc")
	if err := os.MkdirAll(bmcDir, 0o700); err != nil {
		return nil, err
	}
	sim, err := ipmisim.Start(ipmisim.Config{Dir: bmcDir, Name: h.Name, PoweredOn: true})
	if err != nil {
		return nil, err
	}
	b.sim = sim
	host, port, _ := strings.Cut(sim.Addr(), ":")
	bcfg := ipmibmc.DefaultConfig(host, sim.User(), sim.Password())
	bcfg.Port, _ = strconv.Atoi(port)
	bcfg.CipherSuite = 3 // ipmi_sim does not offer 17
	bcfg.Timeout = 500 * time.Millisecond
	bcfg.PowerPoll = 50 * time.Millisecond
	bcfg.Logger = quiet
	if b.bmc, err = ipmibmc.New(bcfg); err != nil {
		return b, err
	}
	for _, p := range []**libvirthv.Hypervisor{&b.hv, &b.power} {
		cfg := libvirthv.DefaultConfig(h.URI)
		cfg.CheckpointDir = rig.Checkpoints
		cfg.Domain.ImageRoots = []string{rig.Shared}
		cfg.Domain.AllowHostChardevs = true // the serial console is logged to a file
		cfg.ShutdownTimeout = 10 * time.Second
		if p == &b.power {
			cfg.ShutdownTimeout = 0
		}
		if *p, err = libvirthv.New(cfg); err != nil {
			return b, err
		}
	}
	if b.guest, err = rig.Guest(h.Name+"-guest", accel); err != nil {
		return b, err
	}
	if err := b.hv.Start(ctx, b.guest.Image(b.name)); err != nil {
		return b, err
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = qemurig.WaitSerial(wait, b.guest.Serial, func(s qemurig.Serial) bool { return len(s.Ticks) > 0 })
	return b, err
}

// followPower links the blade's QEMU host to its BMC's power: when the
// power child of ipmi_sim changes (power off, or a cycle), every guest of
// the host is destroyed, as losing power would.
func (b *blade) followPower(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	last := b.sim.PowerChild()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pid := b.sim.PowerChild()
		if pid == last {
			continue
		}
		if last != 0 {
			vms, err := b.power.List(ctx)
			for _, vm := range vms {
				if err == nil && vm.State != hypervisor.StateStopped {
					b.power.Stop(ctx, vm.Name) //nolint:errcheck // a later List shows what still runs
				}
			}
		}
		last = pid
	}
}

func (b *blade) close() {
	for _, hv := range []*libvirthv.Hypervisor{b.hv, b.power} {
		if hv != nil {
			hv.Close()
		}
	}
	if b.bmc != nil {
		b.bmc.Close()
	}
	if b.sim != nil {
		b.sim.Stop()
	}
}

func sensorNamed(s *ipmisim.Sim, name string) (ipmisim.Sensor, error) {
	for _, sn := range s.Sensors() {
		if sn.Name == name {
			return sn, nil
		}
	}
	return ipmisim.Sensor{}, fmt.Errorf("sensor %q not found", name)
}

// waitFor waits up to a minute for an event of typ about server.
func waitFor(ctx context.Context, tl *failover.Timeline, server string, typ failover.EventType) error {
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := tl.WaitFor(c, server, typ); err != nil {
		return fmt.Errorf("waiting for %s of %s: %w", typ, server, err)
	}
	return nil
}
