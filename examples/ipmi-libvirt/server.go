package main

import (
	"context"
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
	"github.com/rackha/failover/watchdog"
)

// server is one simulated blade: an ipmi_sim BMC whose power child stands
// for the blade's power, a libvirt test-driver host, and the blade's "OS":
// its watchdog updater and its failover monitor, which run only while the
// BMC says the power is on.
type server struct {
	name string
	sim  *ipmisim.Sim
	bmc  *ipmibmc.BMC
	hv   *libvirthv.Hypervisor

	newMonitor func() (*failover.Monitor, error) // set once the rack exists

	mu     sync.Mutex
	stopOS context.CancelFunc // ends the updater and the monitor
	osDone sync.WaitGroup
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func startServer(dir, name string, vms int, diskDir, ckptDir string) (*server, error) {
	s := &server{name: name}
	bmcDir := filepath.Join(dir, name, "bmc")
	if err := mkdirs(bmcDir); err != nil {
		return nil, err
	}
	sim, err := ipmisim.Start(ipmisim.Config{Dir: bmcDir, Name: name, PoweredOn: true})
	if err != nil {
		return nil, err
	}
	s.sim = sim
	host, port, _ := strings.Cut(sim.Addr(), ":")
	bcfg := ipmibmc.DefaultConfig(host, sim.User(), sim.Password())
	bcfg.Port, _ = strconv.Atoi(port)
	bcfg.CipherSuite = 3           // ipmi_sim does not offer 17
	bcfg.WatchdogPretimeout = true // ipmi_sim needs it for kicks to count
	bcfg.Timeout = 500 * time.Millisecond
	bcfg.PowerPoll = 50 * time.Millisecond
	bcfg.Logger = quiet
	if s.bmc, err = ipmibmc.New(bcfg); err != nil {
		s.close()
		return nil, err
	}
	node := filepath.Join(dir, name, "node.xml")
	if err := writeNode(node, name, vms, diskDir); err != nil {
		s.close()
		return nil, err
	}
	hcfg := libvirthv.DefaultConfig("test://" + node)
	hcfg.CheckpointDir = ckptDir
	hcfg.Domain.ImageRoots = []string{diskDir} // stored domains may name disks only there
	hcfg.ShutdownTimeout = time.Second
	if s.hv, err = libvirthv.New(hcfg); err != nil {
		s.close()
		return nil, err
	}
	return s, s.hv.Ping(context.Background())
}

// boot starts the blade's OS: arm and kick the watchdog, run the monitor.
func (s *server) boot(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopOS != nil {
		return nil
	}
	mon, err := s.newMonitor()
	if err != nil {
		return err
	}
	up, err := watchdog.NewUpdater(s.bmc, watchdog.UpdaterConfig{
		Timeout:     3 * time.Second,
		Interval:    time.Second,
		Action:      watchdog.ActionPowerDown, // a hung blade fences itself
		CallTimeout: time.Second,
		Disarm:      false, // a hung OS never disarms; neither does this one
		Logger:      quiet,
	})
	if err != nil {
		return err
	}
	osCtx, cancel := context.WithCancel(ctx)
	s.stopOS = cancel
	s.osDone.Add(2)
	go func() { defer s.osDone.Done(); keepArmed(osCtx, up) }() //nolint:errcheck // an arm failure shows as an expired watchdog
	go func() { defer s.osDone.Done(); mon.Run(osCtx) }()       //nolint:errcheck // Run fails only if the rack refuses the watch
	return nil
}

// keepArmed runs the updater, arming again after a refused arm (a BMC
// still busy with the power-on), as a booting OS would retry.
func keepArmed(ctx context.Context, up *watchdog.Updater) {
	for {
		err := up.Run(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		if os.Getenv("IPMI_LIBVIRT_DEBUG") != "" {
			fmt.Fprintln(os.Stderr, "arm failed, retrying:", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// hang freezes the blade's OS: the watchdog is no longer kicked and the
// monitor stops. Its VMs keep holding their disks until the power goes.
func (s *server) hang() {
	s.mu.Lock()
	stop := s.stopOS
	s.stopOS = nil
	s.mu.Unlock()
	if stop != nil {
		stop()
		s.osDone.Wait()
	}
}

// followPower links the blade to its BMC's power: power off kills the OS
// and every VM of the host (as losing power would); power on boots the OS.
// The power child's PID tells the boots apart, so an off-and-on shorter
// than a poll (a fence followed at once by the restart) is not missed.
// The host's VMs are destroyed within a poll (20 ms) of the power loss;
// a real blade loses them at once.
func (s *server) followPower(ctx context.Context, onErr func(error)) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	last := 0 // PID of the power child seen last; 0 while off
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pid := s.sim.PowerChild()
		if pid == last {
			continue
		}
		if last != 0 { // the power went off, perhaps on again since
			s.hang()
			if err := s.killVMs(ctx); err != nil {
				onErr(err)
			}
		}
		if pid != 0 {
			if err := s.boot(ctx); err != nil {
				onErr(err)
			}
		}
		last = pid
	}
}

func (s *server) killVMs(ctx context.Context) error {
	vms, err := s.hv.List(ctx)
	if err != nil {
		return fmt.Errorf("%s: power lost: %w", s.name, err)
	}
	for _, vm := range vms {
		if vm.State == hypervisor.StateRunning || vm.State == hypervisor.StatePaused {
			if err := s.hv.Stop(ctx, vm.Name); err != nil {
				return fmt.Errorf("%s: power lost: %w", s.name, err)
			}
		}
	}
	return nil
}

func (s *server) close() {
	s.hang()
	if s.hv != nil {
		s.hv.Close()
	}
	if s.bmc != nil {
		s.bmc.Close()
	}
	if s.sim != nil {
		s.sim.Stop()
	}
}
