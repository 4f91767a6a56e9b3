package failover_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type pair struct {
	store    *memstore.Store
	b1, b2   *simbmc.BMC
	hv1, hv2 *memhv.Hypervisor
	mgr      *rack.Local
	mu       sync.Mutex
	events   []failover.Event
}

func (p *pair) record(ev failover.Event) {
	p.mu.Lock()
	p.events = append(p.events, ev)
	p.mu.Unlock()
}

func (p *pair) count(typ failover.EventType) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, ev := range p.events {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// newPair builds two blades on real time: b2 watches b1, b1 runs vms VMs.
func newPair(t *testing.T, vms int) *pair {
	t.Helper()
	ctx := context.Background()
	p := &pair{store: memstore.New()}
	storage := memhv.NewStorage()
	var err error
	for i, b := range []**simbmc.BMC{&p.b1, &p.b2} {
		if *b, err = simbmc.New(simbmc.DefaultConfig(fmt.Sprintf("b%d", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	capacity := hypervisor.Capacity{MemoryMiB: 64 << 10, CPUs: 64}
	if p.hv1, err = memhv.New(memhv.Config{Name: "b1", Capacity: capacity, Storage: storage}); err != nil {
		t.Fatal(err)
	}
	if p.hv2, err = memhv.New(memhv.Config{Name: "b2", Capacity: capacity, Storage: storage}); err != nil {
		t.Fatal(err)
	}
	for i := range vms {
		img, err := p.store.Put(ctx, imagestore.Image{Name: fmt.Sprintf("vm%d", i), Definition: []byte("x"), Owner: "b1", MemoryMiB: 512, CPUs: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.hv1.Start(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	topo, _ := rack.Pairs("b1", "b2")
	p.mgr, err = rack.NewLocal(rack.LocalConfig{Topology: topo, Interval: 10 * time.Millisecond, Servers: []rack.Server{
		{Name: "b1", Sensors: p.b1, Health: p.b1, Watchdog: p.b1, Power: p.b1},
		{Name: "b2", Sensors: p.b2, Health: p.b2, Watchdog: p.b2, Power: p.b2},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Monitor.Run on real time: the rack manager polls on its own goroutine,
// the monitor acts on what the watch channel delivers.
func TestMonitorRunTakesOverALostServer(t *testing.T) {
	p := newPair(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := failover.NewMonitor(failover.Config{
		Server: "b2", Manager: p.mgr, Store: p.store, Hypervisor: p.hv2,
		Peers: map[string]hypervisor.Hypervisor{"b1": p.hv1}, TickInterval: 10 * time.Millisecond, OnEvent: p.record, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = p.mgr.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := m.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if n := p.count(failover.EventDetected); n != 0 {
		t.Fatalf("%d detections of a healthy server", n)
	}
	p.b1.LosePower()
	p.hv1.PowerOff()
	p.b1.RestorePower() // mains back; the server stays off until powered on
	deadline := time.Now().Add(5 * time.Second)
	for p.count(failover.EventRecovered) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if got := p.count(failover.EventBackupStarted); got != 3 {
		t.Errorf("%d backups started, want 3; events: %v", got, p.events)
	}
	if p.count(failover.EventRestarted) != 1 || p.count(failover.EventRecovered) != 1 {
		t.Errorf("restart/recovery missing: %v", p.events)
	}
	for i := range 3 {
		img, err := p.store.Get(context.Background(), fmt.Sprintf("vm%d", i))
		if err != nil || img.Owner != "b2" {
			t.Errorf("vm%d: owner %q, err %v; want b2", i, img.Owner, err)
		}
		if st, err := p.hv2.State(context.Background(), img.Name); err != nil || st != hypervisor.StateRunning {
			t.Errorf("vm%d on b2: %v %v", i, st, err)
		}
	}
}

// racingStore lets a third server claim an image just before the
// watcher's own claim reaches the store.
type racingStore struct {
	imagestore.Store
	once sync.Once
}

func (r *racingStore) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	if img.Owner == "b2" {
		r.once.Do(func() {
			cur, err := r.Store.Get(ctx, img.Name)
			if err == nil {
				_, err = imagestore.Claim(ctx, r.Store, cur, "b3")
			}
			if err != nil {
				panic(err)
			}
		})
	}
	return r.Store.Put(ctx, img)
}

// A watcher whose claim finds the image moved by a third server does not
// start it, and says who owns it.
func TestMonitorNeverStartsAVMClaimedElsewhere(t *testing.T) {
	p := newPair(t, 1)
	ctx := context.Background()
	m, err := failover.NewMonitor(failover.Config{Server: "b2", Manager: p.mgr, Store: &racingStore{Store: p.store},
		Hypervisor: p.hv2, OnEvent: p.record, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.mgr.Power(ctx, "b1", bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	p.hv1.PowerOff()
	st, _ := p.mgr.PollServer(ctx, "b1")
	for range 3 {
		m.Step(ctx, st)
	}
	if n := p.count(failover.EventBackupStarted); n != 0 {
		t.Fatalf("backup started although b3 owns the VM")
	}
	if _, err := p.hv2.State(ctx, "vm0"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("vm0 on b2: %v, want ErrNotFound", err)
	}
	var alert failover.Event
	for _, ev := range p.events {
		if ev.Type == failover.EventAlert && ev.VM == "vm0" {
			alert = ev
		}
	}
	if !strings.Contains(alert.Message, "owned by b3") {
		t.Errorf("no alert says vm0 is owned by b3: %v", p.events)
	}
}

func TestReconcileStartsOwnedVMsOnceAndBumpsTheToken(t *testing.T) {
	p := newPair(t, 2)
	ctx := context.Background()
	p.hv1.PowerOff()
	p.hv1.PowerOn()
	m, err := failover.NewMonitor(failover.Config{Server: "b1", Manager: p.mgr, Store: p.store, Hypervisor: p.hv1, OnEvent: p.record, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := p.store.Get(ctx, "vm0")
	if err := m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Reconcile(ctx); err != nil { // nothing left to do
		t.Fatal(err)
	}
	if n := p.count(failover.EventReconciled); n != 2 {
		t.Errorf("%d reconciled events, want 2", n)
	}
	after, _ := p.store.Get(ctx, "vm0")
	if after.Generation != before.Generation+1 || after.Owner != "b1" {
		t.Errorf("generation %d -> %d owner %q: want one bump, owner b1", before.Generation, after.Generation, after.Owner)
	}
}

func TestNewMonitorNamesMissingField(t *testing.T) {
	_, err := failover.NewMonitor(failover.Config{Server: "b2"})
	if !errors.Is(err, failover.ErrInvalidConfig) || err.Error() != "failover: invalid configuration: Config.Manager is nil" {
		t.Errorf("NewMonitor = %v", err)
	}
}
