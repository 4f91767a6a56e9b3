package ipmibmc_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// The takeover tests run the core (rack.Local, failover.Monitor) on two
// ipmi_sim BMCs through this adapter, with in-memory hypervisors that lose
// their VMs when their BMC powers the server off.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type blade struct {
	name string
	sim  *ipmisim.Sim
	bmc  *ipmibmc.BMC
	hv   *memhv.Hypervisor
}

func newBlade(t *testing.T, name string, storage *memhv.Storage) *blade {
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
	hcfg := memhv.DefaultConfig(name)
	hcfg.Storage = storage
	hv, err := memhv.New(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	return &blade{name: name, sim: sim, bmc: b, hv: hv}
}

// followPower makes the hypervisor lose its VMs when the simulated
// server's power goes, as a real host would. A new power child means the
// power went off and on between two looks: the VMs are gone too.
func (b *blade) followPower(ctx context.Context) {
	last := b.sim.PowerChild()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		now := b.sim.PowerChild()
		switch {
		case now == last:
		case now == 0:
			b.hv.PowerOff()
		case last == 0:
			b.hv.PowerOn()
		default: // cycled
			b.hv.PowerOff()
			b.hv.PowerOn()
		}
		last = now
	}
}

// fencedHost powers the host's hypervisor off as soon as the BMC confirms
// power off, as a real server's VMs die with its power; followPower alone
// lags by its 20 ms poll, long enough for the backup to start first.
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

// rig is two blades watching each other, each running one protected VM.
type rig struct {
	a, b   *blade
	store  *memstore.Store
	mu     sync.Mutex
	events []failover.Event
	seen   chan struct{}
}

func newRig(t *testing.T) (*rig, context.Context) {
	t.Helper()
	storage := memhv.NewStorage()
	r := &rig{a: newBlade(t, "a", storage), b: newBlade(t, "b", storage), store: memstore.New(), seen: make(chan struct{}, 64)}
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
		lcfg.Servers = append(lcfg.Servers, rack.Server{Name: bl.name, Sensors: bl.bmc, Health: bl.bmc, Watchdog: bl.bmc, Power: fencedHost{bl}})
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
	wg.Add(3)
	go func() { defer wg.Done(); _ = local.Run(ctx) }()
	go func() { defer wg.Done(); r.a.followPower(ctx) }()
	go func() { defer wg.Done(); r.b.followPower(ctx) }()
	// b watches a (the failing server in both tests).
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

// waitFor waits for an event matching ok and returns it.
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

// runsOnlyOn checks that vm runs on exactly the given blade.
func runsOnlyOn(t *testing.T, ctx context.Context, vm string, on *blade, off *blade) {
	t.Helper()
	if st, err := on.hv.State(ctx, vm); err != nil || st != hypervisor.StateRunning {
		t.Errorf("%s on %s: %v, %v; want running", vm, on.name, st, err)
	}
	// followPower mirrors the BMC's power into the in-memory hypervisor
	// every 20 ms; allow it that lag (a real host loses its VMs at once).
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		st, err := off.hv.State(ctx, vm)
		if err != nil || st != hypervisor.StateRunning {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s still runs on %s too", vm, off.name)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTakeoverOnCriticalReading: a temperature or a voltage of blade a
// pushed past its critical threshold through ipmi_sim's console; blade b
// detects it through this adapter and takes vm-a over (evacuated by
// checkpoint, since a is degraded but alive).
func TestTakeoverOnCriticalReading(t *testing.T) {
	for _, tc := range []struct {
		sensor string
		cause  failover.Cause
		raw    func(ipmisim.Sensor) uint8 // a raw value past upper critical
	}{
		{"CPU0 Temp", failover.CauseTemperature, func(s ipmisim.Sensor) uint8 { return s.Thresholds[4] + 2 }},
		{"P12V", failover.CauseVoltage, func(s ipmisim.Sensor) uint8 { return s.Thresholds[4] + 2 }},
	} {
		t.Run(tc.sensor, func(t *testing.T) {
			r, ctx := newRig(t)
			time.Sleep(time.Second) // first statuses in
			var sn ipmisim.Sensor
			for _, s := range r.a.sim.Sensors() {
				if s.Name == tc.sensor {
					sn = s
				}
			}
			raw := tc.raw(sn)
			if err := r.a.sim.SetRaw(sn.Number, raw); err != nil {
				t.Fatal(err)
			}
			det := r.waitFor(t, ctx, "detected", func(e failover.Event) bool {
				return e.Type == failover.EventDetected && e.Server == "a"
			})
			if det.Cause != tc.cause || det.Sensor != tc.sensor || math.Abs(det.Value-sn.Value(raw)) > 1e-9 ||
				math.Abs(det.Threshold-sn.Value(sn.Thresholds[4])) > 1e-9 {
				t.Errorf("detection: %v; want %s %s = %v past %v", det, tc.cause, tc.sensor, sn.Value(raw), sn.Value(sn.Thresholds[4]))
			}
			r.waitFor(t, ctx, "evacuated vm-a", func(e failover.Event) bool {
				return e.Type == failover.EventEvacuated && e.VM == "vm-a"
			})
			bs := r.waitFor(t, ctx, "backup-started vm-a", func(e failover.Event) bool {
				return e.Type == failover.EventBackupStarted && e.VM == "vm-a"
			})
			if !bs.Resumed {
				t.Errorf("backup not resumed from the checkpoint: %v", bs)
			}
			runsOnlyOn(t, ctx, "vm-a", r.b, r.a)
			img, err := r.store.Get(ctx, "vm-a")
			if err != nil || img.Owner != "b" {
				t.Errorf("vm-a in the store: owner %q, %v", img.Owner, err)
			}
		})
	}
}

// TestTakeoverOnWatchdogExpiry: blade a's OS arms and kicks its BMC
// watchdog through this adapter, then hangs; the watchdog expires, the BMC
// powers a down, and b takes vm-a over.
func TestTakeoverOnWatchdogExpiry(t *testing.T) {
	r, ctx := newRig(t)
	up, err := watchdog.NewUpdater(r.a.bmc, watchdog.UpdaterConfig{
		Timeout: 3 * time.Second, Interval: time.Second, Action: watchdog.ActionPowerDown,
		CallTimeout: time.Second, Disarm: false, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	osCtx, hang := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- up.Run(osCtx) }()
	time.Sleep(5 * time.Second) // kicked past its 3 s timeout: alive
	r.mu.Lock()
	early := len(r.events)
	r.mu.Unlock()
	if early != 0 {
		t.Fatalf("events while the watchdog was kicked: %v", r.events)
	}
	hang()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	det := r.waitFor(t, ctx, "detected", func(e failover.Event) bool {
		return e.Type == failover.EventDetected && e.Server == "a"
	})
	if det.Cause != failover.CauseWatchdog {
		t.Errorf("detection: %v, want cause watchdog", det)
	}
	r.waitFor(t, ctx, "backup-started vm-a", func(e failover.Event) bool {
		return e.Type == failover.EventBackupStarted && e.VM == "vm-a"
	})
	runsOnlyOn(t, ctx, "vm-a", r.b, r.a)
}
