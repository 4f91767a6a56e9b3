package redfishbmc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
)

// The takeover tests run the core (rack.Local, failover.Monitor) on two
// blades of the public-bladed enclosure through this adapter, with
// in-memory hypervisors that lose their VMs when the simulated system's
// PowerState goes Off. Events from each adapter trigger an immediate poll.

var quiet = slog.New(slog.DiscardHandler)

type blade struct {
	name, sys string
	bmc       *redfishbmc.BMC
	hv        *memhv.Hypervisor
}

type rig struct {
	sim    *redfishsim.Server
	a, b   *blade
	store  *memstore.Store
	mu     sync.Mutex
	events []failover.Event
	seen   chan struct{}
}

func newRig(t *testing.T) (*rig, context.Context) {
	t.Helper()
	dir, err := redfishsim.MockupDir("public-bladed")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
	sim, err := redfishsim.New(dir, redfishsim.Options{Username: "admin", Password: "pw-Secret1", EventsOnReset: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	storage := memhv.NewStorage()
	sum := sha256.Sum256(sim.CertDER())
	mk := func(name, sys string) *blade {
		cfg := redfishbmc.DefaultConfig()
		cfg.Endpoint, cfg.Username, cfg.Password, cfg.System = sim.URL, "admin", "pw-Secret1", sys
		cfg.PinnedCertSHA256 = hex.EncodeToString(sum[:])
		cfg.PowerPollInterval, cfg.RequestTimeout, cfg.Logger = 50*time.Millisecond, time.Second, quiet
		b, err := redfishbmc.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		hcfg := memhv.DefaultConfig(name)
		hcfg.Storage = storage
		hv, err := memhv.New(hcfg)
		if err != nil {
			t.Fatal(err)
		}
		return &blade{name: name, sys: sys, bmc: b, hv: hv}
	}
	r := &rig{sim: sim, a: mk("a", "529QB9450R6"), b: mk("b", "529QB9451R6"), store: memstore.New(), seen: make(chan struct{}, 64)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, bl := range []*blade{r.a, r.b} {
		img := imagestore.Image{Name: "vm-" + bl.name, Definition: []byte("<domain/>"), Disks: []string{"/shared/vm-" + bl.name + ".qcow2"},
			Owner: bl.name, MemoryMiB: 1024, CPUs: 1}
		if err := bl.hv.Start(ctx, img); err != nil {
			t.Fatal(err)
		}
		if _, err := r.store.Put(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	topo, err := rack.Pairs("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	lcfg := rack.DefaultLocalConfig()
	lcfg.Topology, lcfg.Interval, lcfg.CallTimeout, lcfg.PowerTimeout, lcfg.Logger = topo, 300*time.Millisecond, time.Second, 15*time.Second, quiet
	for _, bl := range []*blade{r.a, r.b} {
		lcfg.Servers = append(lcfg.Servers, rack.Server{Name: bl.name, Sensors: bl.bmc, Health: bl.bmc, Power: fencedHost{bl}})
	}
	local, err := rack.NewLocal(lcfg)
	if err != nil {
		t.Fatal(err)
	}
	pol := failover.DefaultPolicy()
	pol.DebouncePolls = 2
	pol.RetryInterval = time.Second
	pol.EvacuationTimeout = 20 * time.Second
	pol.RecoveryTimeout = 30 * time.Second
	wg.Add(1)
	go func() { defer wg.Done(); _ = local.Run(ctx) }()
	// local.Run reads a blade at once on each of its events (bmc.EventSource).
	wg.Add(2)
	for _, bl := range []*blade{r.a, r.b} {
		go func() { defer wg.Done(); r.followPower(ctx, bl) }()
	}
	mon, err := failover.NewMonitor(failover.Config{
		Server: "b", Manager: local, Store: r.store, Hypervisor: r.b.hv,
		Peers: map[string]hypervisor.Hypervisor{"a": r.a.hv}, Policy: pol,
		ActionTimeout: 20 * time.Second, TickInterval: 200 * time.Millisecond, Logger: quiet,
		OnEvent: func(e failover.Event) {
			t.Logf("event: %v", e)
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
			select {
			case r.seen <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = mon.Run(ctx) }()
	return r, ctx
}

// fencedHost powers the host's hypervisor off as soon as the BMC confirms
// power off, as a real server's VMs die with its power; followPower
// alone would lag by its poll.
type fencedHost struct{ *blade }

func (f fencedHost) SetPower(ctx context.Context, a bmc.PowerAction) error {
	err := f.bmc.SetPower(ctx, a)
	if err == nil && a == bmc.PowerActionOff {
		f.hv.PowerOff()
	}
	return err
}

func (f fencedHost) PowerState(ctx context.Context) (bmc.PowerState, error) {
	return f.bmc.PowerState(ctx)
}

// followPower makes bl's hypervisor lose its VMs when the simulated
// system's PowerState goes Off, as a real host would.
func (r *rig) followPower(ctx context.Context, bl *blade) {
	on := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		sys, _ := r.sim.Get("/redfish/v1/Systems/" + bl.sys)
		now := sys["PowerState"] != "Off"
		switch {
		case on && !now:
			bl.hv.PowerOff()
		case !on && now:
			bl.hv.PowerOn()
		}
		on = now
	}
}

func (r *rig) waitFor(t *testing.T, ctx context.Context, what string, ok func(failover.Event) bool) failover.Event {
	t.Helper()
	for {
		r.mu.Lock()
		for _, e := range r.events {
			if ok(e) {
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			t.Fatalf("no %s event before the deadline", what)
		case <-r.seen:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func runsOnlyOn(t *testing.T, ctx context.Context, vm string, on, off *blade) {
	t.Helper()
	if st, err := on.hv.State(ctx, vm); err != nil || st != hypervisor.StateRunning {
		t.Errorf("%s on %s: %v, %v; want running", vm, on.name, st, err)
	}
	if st, err := off.hv.State(ctx, vm); err == nil && st == hypervisor.StateRunning {
		t.Errorf("%s still runs on %s too", vm, off.name)
	}
}

// Blade a's CPU temperature (its own legacy Thermal) passes its critical
// threshold: b evacuates vm-a by checkpoint.
func TestTakeoverOnCriticalTemperature(t *testing.T) {
	r, ctx := newRig(t)
	time.Sleep(time.Second) // first statuses in
	th, _ := r.sim.Get("/redfish/v1/Chassis/Blade1/Thermal")
	temps := th["Temperatures"].([]any)
	temps[0].(map[string]any)["ReadingCelsius"] = 92 // critical 90
	if err := r.sim.Set("/redfish/v1/Chassis/Blade1/Thermal", map[string]any{"Temperatures": temps}); err != nil {
		t.Fatal(err)
	}
	det := r.waitFor(t, ctx, "detected", func(e failover.Event) bool { return e.Type == failover.EventDetected && e.Server == "a" })
	if det.Cause != failover.CauseTemperature || det.Sensor != "CPU Temp" || det.Value != 92 || det.Threshold != 90 {
		t.Errorf("detection: %v", det)
	}
	r.waitFor(t, ctx, "backup-started vm-a", func(e failover.Event) bool { return e.Type == failover.EventBackupStarted && e.VM == "vm-a" })
	runsOnlyOn(t, ctx, "vm-a", r.b, r.a)
	if img, err := r.store.Get(ctx, "vm-a"); err != nil || img.Owner != "b" {
		t.Errorf("vm-a in the store: owner %q, %v", img.Owner, err)
	}
}

// Blade a declares itself failed (Status.Health Critical) and says so on
// the event stream: b fences it through ComputerSystem.Reset ForceOff and
// starts vm-a.
func TestTakeoverOnBladeFault(t *testing.T) {
	r, ctx := newRig(t)
	time.Sleep(time.Second)
	sys := "/redfish/v1/Systems/" + r.a.sys
	if err := r.sim.Set(sys, map[string]any{"Status": map[string]any{"Health": "Critical"}}); err != nil {
		t.Fatal(err)
	}
	r.sim.Publish(redfishsim.Event{Origin: sys, Severity: "Critical", Message: "processor IERR"})
	det := r.waitFor(t, ctx, "detected", func(e failover.Event) bool { return e.Type == failover.EventDetected && e.Server == "a" })
	if det.Cause != failover.CauseBladeFault {
		t.Errorf("detection: %v, want cause blade-fault", det)
	}
	r.waitFor(t, ctx, "backup-started vm-a", func(e failover.Event) bool { return e.Type == failover.EventBackupStarted && e.VM == "vm-a" })
	runsOnlyOn(t, ctx, "vm-a", r.b, r.a)
	if st, _ := r.sim.Get(sys); st["PowerState"] != "Off" {
		t.Errorf("blade a PowerState %v, want Off (fenced)", st["PowerState"])
	}
	if n := r.sim.Count("POST", sys+"/Actions/ComputerSystem.Reset"); n < 1 {
		t.Error("no reset was posted")
	}
}
