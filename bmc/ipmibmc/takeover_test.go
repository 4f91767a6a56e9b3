package ipmibmc_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/internal/takeoverrig"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// The takeover tests run the core (rack.Local, failover.Monitor) on two
// ipmi_sim BMCs through this adapter, in the shared rig: each host's VMs
// live and die with ipmi_sim's power child.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type blade struct {
	sim *ipmisim.Sim
	bmc *ipmibmc.BMC
}

func newBlade(t *testing.T, name string) (blade, takeoverrig.Host) {
	t.Helper()
	if err := ipmisim.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
	sim, err := ipmisim.Start(ipmisim.Config{Dir: t.TempDir(), Name: name, PoweredOn: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Stop)
	host, port, _ := strings.Cut(sim.Addr(), ":")
	cfg := ipmibmc.DefaultConfig(host, sim.User(), sim.Password())
	cfg.Port, _ = strconv.Atoi(port)
	cfg.CipherSuite = 3           // ipmi_sim does not offer 17
	cfg.WatchdogPretimeout = true // ipmi_sim loses kicks without it
	cfg.Timeout = 500 * time.Millisecond
	cfg.PowerPoll = 50 * time.Millisecond
	cfg.Logger = quiet
	b, err := ipmibmc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return blade{sim: sim, bmc: b}, takeoverrig.Host{
		Name:  name,
		Roles: rack.Server{Sensors: b, Health: b, Watchdog: b, Power: b},
		Power: func() (bmc.PowerState, error) { return childPower(sim), nil },
	}
}

// childPower is the simulated host's real power: on while ipmi_sim's
// power child runs.
func childPower(s *ipmisim.Sim) bmc.PowerState {
	if s.PowerChild() != 0 {
		return bmc.PowerOn
	}
	return bmc.PowerOff
}

// newRig is blade b watching blade a, the one that fails.
func newRig(t *testing.T) (*takeoverrig.Rig, blade) {
	t.Helper()
	a, ha := newBlade(t, "a")
	_, hb := newBlade(t, "b")
	return takeoverrig.Start(t, takeoverrig.Config{Watched: ha, Watcher: hb}), a
}

// TestTakeoverOnCriticalReading: a temperature or a voltage of blade a
// pushed past its critical threshold through ipmi_sim's console; blade b
// detects it through this adapter and takes vm-a over (evacuated by
// checkpoint, since a is degraded but alive).
func TestTakeoverOnCriticalReading(t *testing.T) {
	for _, tc := range []struct {
		sensor string
		cause  failover.Cause
	}{
		{"CPU0 Temp", failover.CauseTemperature},
		{"P12V", failover.CauseVoltage},
	} {
		t.Run(tc.sensor, func(t *testing.T) {
			r, a := newRig(t)
			r.WaitPolled(2)
			var sn ipmisim.Sensor
			for _, s := range a.sim.Sensors() {
				if s.Name == tc.sensor {
					sn = s
				}
			}
			raw := sn.Thresholds[4] + 2 // past upper critical
			if err := a.sim.SetRaw(sn.Number, raw); err != nil {
				t.Fatal(err)
			}
			det := r.WaitEvent(failover.EventDetected, "")
			if det.Cause != tc.cause || det.Sensor != tc.sensor || math.Abs(det.Value-sn.Value(raw)) > 1e-9 ||
				math.Abs(det.Threshold-sn.Value(sn.Thresholds[4])) > 1e-9 {
				t.Errorf("detection: %v; want %s %s = %v past %v", det, tc.cause, tc.sensor, sn.Value(raw), sn.Value(sn.Thresholds[4]))
			}
			r.WaitEvent(failover.EventEvacuated, "vm-a")
			if bs := r.WaitEvent(failover.EventBackupStarted, "vm-a"); !bs.Resumed {
				t.Errorf("backup not resumed from the checkpoint: %v", bs)
			}
			r.RunsOnlyOn("vm-a", r.Watcher)
			if childPower(a.sim) != bmc.PowerOn {
				t.Error("blade a was powered off; an evacuated blade stays on")
			}
			if img, err := r.Store.Get(r.Context(), "vm-a"); err != nil || img.Owner != "b" {
				t.Errorf("vm-a in the store: owner %q, %v", img.Owner, err)
			}
		})
	}
}

// TestTakeoverOnWatchdogExpiry: blade a's OS arms and kicks its BMC
// watchdog through this adapter, then hangs; the watchdog expires, the BMC
// powers a down, and b takes vm-a over.
func TestTakeoverOnWatchdogExpiry(t *testing.T) {
	r, a := newRig(t)
	up, err := watchdog.NewUpdater(a.bmc, watchdog.UpdaterConfig{
		Timeout: 3 * time.Second, Interval: time.Second, Action: watchdog.ActionPowerDown,
		CallTimeout: time.Second, Disarm: false, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	osCtx, hang := context.WithCancel(r.Context())
	done := make(chan error, 1)
	go func() { done <- up.Run(osCtx) }()
	time.Sleep(4 * time.Second) // kicked past its 3 s timeout: alive
	for _, ev := range r.Events() {
		if ev.Type != failover.EventWatchdogSeen { // the watcher noting the armed watchdog is all that may happen
			t.Fatalf("events while the watchdog was kicked: %v", r.Events())
		}
	}
	hang()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if det := r.WaitEvent(failover.EventDetected, ""); det.Cause != failover.CauseWatchdog {
		t.Errorf("detection: %v, want cause watchdog", det)
	}
	r.WaitEvent(failover.EventBackupStarted, "vm-a")
	r.RunsOnlyOn("vm-a", r.Watcher)
	if childPower(a.sim) != bmc.PowerOff {
		t.Error("blade a runs after its watchdog expired and it was fenced")
	}
}
