package redfishbmc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/internal/takeoverrig"
	"github.com/rackha/failover/rack"
)

// The takeover tests run the core (rack.Local, failover.Monitor) on two
// blades of the public-bladed enclosure through this adapter, in the
// shared rig: each host's VMs live and die with its ComputerSystem's
// PowerState in the test server. Events from each adapter trigger an
// immediate poll.

var quiet = slog.New(slog.DiscardHandler)

const bladeA, bladeB = "529QB9450R6", "529QB9451R6"

// newRig is blade b watching blade a, the one that fails.
func newRig(t *testing.T) (*takeoverrig.Rig, *redfishsim.Server) {
	t.Helper()
	sim := rigSim(t, "public-bladed", redfishsim.Options{EventsOnReset: true})
	return takeoverrig.Start(t, takeoverrig.Config{Watched: rigHost(t, sim, "a", bladeA, nil), Watcher: rigHost(t, sim, "b", bladeB, nil)}), sim
}

// rigSim serves a DMTF mockup (fatal under CI=true when it is missing)
// with the rig's credentials.
func rigSim(t *testing.T, mockup string, opts redfishsim.Options) *redfishsim.Server {
	t.Helper()
	dir, err := redfishsim.MockupDir(mockup)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
	opts.Username, opts.Password = "admin", "pw-Secret1"
	sim, err := redfishsim.New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// rigHost is system sys of sim as host name of the rig, through this
// adapter (certificate pinned, polls every 50 ms); tweak may change the
// adapter's config.
func rigHost(t *testing.T, sim *redfishsim.Server, name, sys string, tweak func(*redfishbmc.Config)) takeoverrig.Host {
	t.Helper()
	sum := sha256.Sum256(sim.CertDER())
	cfg := redfishbmc.DefaultConfig()
	cfg.Endpoint, cfg.Username, cfg.Password, cfg.System = sim.URL, "admin", "pw-Secret1", sys
	cfg.PinnedCertSHA256 = hex.EncodeToString(sum[:])
	cfg.PowerPollInterval, cfg.RequestTimeout, cfg.Logger = 50*time.Millisecond, time.Second, quiet
	if tweak != nil {
		tweak(&cfg)
	}
	b, err := redfishbmc.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return takeoverrig.Host{
		Name:  name,
		Roles: rack.Server{Sensors: b, Health: b, Power: b},
		Power: func() (bmc.PowerState, error) { return simPower(sim, sys) },
	}
}

// simPower is the system's real power: the test server's own resource,
// not what a GET answers (ReportStalePower may make the two differ).
func simPower(sim *redfishsim.Server, sys string) (bmc.PowerState, error) {
	r, ok := sim.Get("/redfish/v1/Systems/" + sys)
	if !ok {
		return bmc.PowerUnknown, fmt.Errorf("no system %s", sys)
	}
	switch r["PowerState"] {
	case "On":
		return bmc.PowerOn, nil
	case "Off":
		return bmc.PowerOff, nil
	}
	return bmc.PowerUnknown, nil // powering on or off: not settled
}

// Blade a's CPU temperature (its own legacy Thermal) passes its critical
// threshold: b evacuates vm-a by checkpoint.
func TestTakeoverOnCriticalTemperature(t *testing.T) {
	r, sim := newRig(t)
	r.WaitPolled(2)
	th, _ := sim.Get("/redfish/v1/Chassis/Blade1/Thermal")
	temps := th["Temperatures"].([]any)
	temps[0].(map[string]any)["ReadingCelsius"] = 92 // critical 90
	if err := sim.Set("/redfish/v1/Chassis/Blade1/Thermal", map[string]any{"Temperatures": temps}); err != nil {
		t.Fatal(err)
	}
	det := r.WaitEvent(failover.EventDetected, "")
	if det.Cause != failover.CauseTemperature || det.Sensor != "CPU Temp" || det.Value != 92 || det.Threshold != 90 {
		t.Errorf("detection: %v", det)
	}
	r.WaitEvent(failover.EventEvacuated, "vm-a")
	if bs := r.WaitEvent(failover.EventBackupStarted, "vm-a"); !bs.Resumed {
		t.Errorf("backup not resumed from the checkpoint: %v", bs)
	}
	r.RunsOnlyOn("vm-a", r.Watcher)
	if st, _ := simPower(sim, bladeA); st != bmc.PowerOn {
		t.Errorf("blade a power %v; an evacuated blade stays on", st)
	}
	if img, err := r.Store.Get(r.Context(), "vm-a"); err != nil || img.Owner != "b" {
		t.Errorf("vm-a in the store: owner %q, %v", img.Owner, err)
	}
}

// Blade a declares itself failed (Status.Health Critical) and says so on
// the event stream: b fences it through ComputerSystem.Reset ForceOff and
// starts vm-a.
func TestTakeoverOnBladeFault(t *testing.T) {
	r, sim := newRig(t)
	r.WaitPolled(2)
	sys := "/redfish/v1/Systems/" + bladeA
	if err := sim.Set(sys, map[string]any{"Status": map[string]any{"Health": "Critical"}}); err != nil {
		t.Fatal(err)
	}
	sim.Publish(redfishsim.Event{Origin: sys, Severity: "Critical", Message: "processor IERR"})
	if det := r.WaitEvent(failover.EventDetected, ""); det.Cause != failover.CauseBladeFault {
		t.Errorf("detection: %v, want cause blade-fault", det)
	}
	r.WaitEvent(failover.EventFenced, "")
	r.WaitEvent(failover.EventBackupStarted, "vm-a")
	r.RunsOnlyOn("vm-a", r.Watcher)
	if st, _ := simPower(sim, bladeA); st != bmc.PowerOff {
		t.Errorf("blade a power %v, want off (fenced)", st)
	}
	if n := sim.Count("POST", sys+"/Actions/ComputerSystem.Reset"); n < 1 {
		t.Error("no reset was posted")
	}
}
