package failover_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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

// fastPolicy judges and retries on a test's time scale.
func fastPolicy() failover.Policy {
	p := failover.DefaultPolicy()
	p.FastDwell = 30 * time.Millisecond
	p.FenceSettle = 10 * time.Millisecond
	p.RetryInterval = 50 * time.Millisecond
	return p
}

// recorder keeps a monitor's events.
type recorder struct {
	mu     sync.Mutex
	events []failover.Event
}

func (r *recorder) record(ev failover.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// count returns how many events match.
func (r *recorder) count(match func(failover.Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if match(ev) {
			n++
		}
	}
	return n
}

func (r *recorder) countType(typ failover.EventType) int {
	return r.count(func(ev failover.Event) bool { return ev.Type == typ })
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, ev := range r.events {
		fmt.Fprintf(&b, "\n  %v", ev)
	}
	return b.String()
}

// waitUntil polls cond every 5 ms for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

type pair struct {
	recorder
	store    *memstore.Store
	b1, b2   *simbmc.BMC
	hv1, hv2 *memhv.Hypervisor
	mgr      *rack.Local
}

// newPair builds two blades on real time: b2 watches b1, b1 runs vms VMs.
// power, when set, stands between the rack manager and b1's BMC power.
func newPair(t *testing.T, vms int, power func(bmc.Power) bmc.Power) *pair {
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
	var b1Power bmc.Power = p.b1
	if power != nil {
		b1Power = power(p.b1)
	}
	topo, _ := rack.Pairs("b1", "b2")
	p.mgr, err = rack.NewLocal(rack.LocalConfig{Topology: topo, Interval: 10 * time.Millisecond, Logger: quiet, Servers: []rack.Server{
		{Name: "b1", Sensors: p.b1, Health: p.b1, Watchdog: p.b1, Power: b1Power},
		{Name: "b2", Sensors: p.b2, Health: p.b2, Watchdog: p.b2, Power: p.b2},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fail cuts b1's main power (its VMs die with it) and gives it back: the
// server stays off until powered on.
func (p *pair) fail() {
	p.b1.LosePower()
	p.hv1.PowerOff()
	p.b1.RestorePower()
}

// run runs the rack manager and m until the test ends.
func run(t *testing.T, mgr *rack.Local, m *failover.Monitor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if mgr != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = mgr.Run(ctx) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// Monitor.Run on real time: the rack manager polls on its own goroutine,
// the monitor acts on what the watch channel delivers.
func TestMonitorRunTakesOverALostServer(t *testing.T) {
	p := newPair(t, 3, nil)
	m, err := failover.NewMonitor(failover.Config{
		Server: "b2", Manager: p.mgr, Store: p.store, Hypervisor: p.hv2, Policy: fastPolicy(),
		Peers: map[string]hypervisor.Hypervisor{"b1": p.hv1}, TickInterval: 10 * time.Millisecond, OnEvent: p.record, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, p.mgr, m)
	time.Sleep(100 * time.Millisecond)
	if n := p.countType(failover.EventDetected); n != 0 {
		t.Fatalf("%d detections of a healthy server:%v", n, &p.recorder)
	}
	p.fail()
	if !waitUntil(5*time.Second, func() bool { return p.countType(failover.EventRecovered) > 0 }) {
		t.Fatalf("no recovery:%v", &p.recorder)
	}
	if got := p.countType(failover.EventBackupStarted); got != 3 {
		t.Errorf("%d backups started, want 3:%v", got, &p.recorder)
	}
	if p.countType(failover.EventRestarted) != 1 {
		t.Errorf("restart missing:%v", &p.recorder)
	}
	for i := range 3 {
		img, err := p.store.Get(context.Background(), fmt.Sprintf("vm%d", i))
		if err != nil || img.Owner != "b2" || img.PreviousOwner != "b1" {
			t.Errorf("vm%d: owner %q (from %q), err %v; want b2 from b1", i, img.Owner, img.PreviousOwner, err)
		}
		if st, err := p.hv2.State(context.Background(), img.Name); err != nil || st != hypervisor.StateRunning {
			t.Errorf("vm%d on b2: %v %v", i, st, err)
		}
	}
	if ph := m.Phase("b1"); ph != failover.PhaseWatching {
		t.Errorf("phase after recovery %v, want watching", ph)
	}
}

// slowHV makes every Start take a while and counts how many run at once.
type slowHV struct {
	hypervisor.Hypervisor
	delay   time.Duration
	now     atomic.Int32
	maxSeen atomic.Int32
}

func (h *slowHV) Start(ctx context.Context, img imagestore.Image) error {
	n := h.now.Add(1)
	defer h.now.Add(-1)
	for {
		m := h.maxSeen.Load()
		if n <= m || h.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(h.delay)
	return h.Hypervisor.Start(ctx, img)
}

func TestMonitorStartsInParallel(t *testing.T) {
	const vms, delay, bound = 10, 200 * time.Millisecond, 5
	p := newPair(t, vms, nil)
	hv := &slowHV{Hypervisor: p.hv2, delay: delay}
	pol := fastPolicy()
	pol.MaxParallelStarts = bound
	m, err := failover.NewMonitor(failover.Config{Server: "b2", Manager: p.mgr, Store: p.store, Hypervisor: hv, Policy: pol,
		TickInterval: 10 * time.Millisecond, OnEvent: p.record, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	run(t, p.mgr, m)
	p.fail()
	if !waitUntil(5*time.Second, func() bool { return p.countType(failover.EventFenced) > 0 }) {
		t.Fatalf("not fenced:%v", &p.recorder)
	}
	began := time.Now()
	if !waitUntil(5*time.Second, func() bool { return p.countType(failover.EventBackupStarted) == vms }) {
		t.Fatalf("not all started:%v", &p.recorder)
	}
	took := time.Since(began)
	// In order they would take 10 x 200 ms; two rounds of 5 take 400.
	if took >= vms*delay/2 {
		t.Errorf("%d starts of %v took %v: not in parallel", vms, delay, took)
	}
	if n := hv.maxSeen.Load(); n < 2 || n > bound {
		t.Errorf("%d starts ran at once, want 2..%d (MaxParallelStarts)", n, bound)
	}
	t.Logf("%d starts of %v: %v, at most %d at once", vms, delay, took, hv.maxSeen.Load())
}

// stuckPower hangs the first SetPower, ignoring its context, until the
// test ends; later calls go through.
type stuckPower struct {
	bmc.Power
	calls   atomic.Int32
	release chan struct{}
}

func (s *stuckPower) SetPower(ctx context.Context, a bmc.PowerAction) error {
	if s.calls.Add(1) == 1 {
		<-s.release
		return errors.New("released at the end of the test")
	}
	return s.Power.SetPower(ctx, a)
}

// A fence call that never returns is abandoned at ActionTimeout (plus the
// grace second) as indeterminate and tried again; meanwhile Phase answers
// at once.
func TestMonitorAbandonsAHungFence(t *testing.T) {
	stuck := &stuckPower{release: make(chan struct{})}
	p := newPair(t, 1, func(b bmc.Power) bmc.Power { stuck.Power = b; return stuck })
	t.Cleanup(func() { close(stuck.release) })
	m, err := failover.NewMonitor(failover.Config{Server: "b2", Manager: p.mgr, Store: p.store, Hypervisor: p.hv2, Policy: fastPolicy(),
		ActionTimeout: 100 * time.Millisecond, TickInterval: 10 * time.Millisecond, OnEvent: p.record, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	run(t, p.mgr, m)
	p.fail()
	if !waitUntil(5*time.Second, func() bool { return stuck.calls.Load() == 1 }) {
		t.Fatalf("no fence:%v", &p.recorder)
	}
	hungAt := time.Now()
	for time.Since(hungAt) < 500*time.Millisecond {
		began := time.Now()
		ph := m.Phase("b1")
		if d := time.Since(began); d > 200*time.Millisecond {
			t.Fatalf("Phase took %v while a fence hangs", d)
		}
		if ph != failover.PhaseFencing {
			t.Fatalf("phase %v while the fence hangs, want fencing", ph)
		}
		time.Sleep(20 * time.Millisecond)
	}
	indeterminate := func(ev failover.Event) bool {
		return ev.Type == failover.EventAlert && strings.Contains(ev.Message, "attempt 1/3 indeterminate")
	}
	if !waitUntil(3*time.Second, func() bool { return p.count(indeterminate) == 1 }) {
		t.Fatalf("hung fence not abandoned as indeterminate:%v", &p.recorder)
	}
	if d := time.Since(hungAt); d < time.Second || d > 2500*time.Millisecond {
		t.Errorf("abandoned after %v, want ActionTimeout 100ms + 1s", d)
	}
	if !waitUntil(3*time.Second, func() bool { return p.countType(failover.EventBackupStarted) == 1 }) {
		t.Fatalf("the retried fence did not lead to a takeover:%v", &p.recorder)
	}
	if n := stuck.calls.Load(); n < 2 {
		t.Errorf("%d fence calls, want a retry", n)
	}
}

// fakeManager is a rack manager the test drives: statuses are pushed by
// hand, power actions succeed and are counted, and the n-th Watch may be
// closed or refused.
type fakeManager struct {
	mu      sync.Mutex
	watches int
	current chan rack.Status
	refuse  error // returned by Watch after the first
	powered map[string]int
}

func (f *fakeManager) Watch(ctx context.Context, watcher string) (<-chan rack.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watches++
	if f.watches > 1 && f.refuse != nil {
		return nil, f.refuse
	}
	f.current = make(chan rack.Status, 16)
	return f.current, nil
}

func (f *fakeManager) Power(ctx context.Context, server string, action bmc.PowerAction) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.powered == nil {
		f.powered = map[string]int{}
	}
	f.powered[server]++
	return nil
}

// push delivers st on the current stream, if there is one.
func (f *fakeManager) push(st rack.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current != nil {
		select {
		case f.current <- st:
		default:
		}
	}
}

// closeStream ends the current stream, as a rack manager that went away.
func (f *fakeManager) closeStream() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.current)
	f.current = nil
}

func (f *fakeManager) watchCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watches
}

// feed pushes a status of each server every 10 ms until ctx ends;
// offline says which are off.
func (f *fakeManager) feed(ctx context.Context, offline *sync.Map, servers ...string) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		for _, s := range servers {
			st := rack.Status{Server: s, Time: time.Now(), Reachable: true, Health: bmc.Health{Power: bmc.PowerOn}}
			if _, off := offline.Load(s); off {
				st.Health.Power = bmc.PowerOff
			}
			f.push(st)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func TestMonitorRewatchesWhenTheStreamCloses(t *testing.T) {
	f := &fakeManager{}
	var rec recorder
	hv, _ := memhv.New(memhv.DefaultConfig("b2"))
	m, err := failover.NewMonitor(failover.Config{Server: "b2", Manager: f, Store: memstore.New(), Hypervisor: hv, Policy: fastPolicy(),
		TickInterval: 10 * time.Millisecond, OnEvent: rec.record, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var offline sync.Map
	go f.feed(ctx, &offline, "b1")
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	if !waitUntil(time.Second, func() bool { return f.watchCount() == 1 }) {
		t.Fatal("Run never watched")
	}
	time.Sleep(30 * time.Millisecond)
	f.closeStream()
	closed := func(ev failover.Event) bool {
		return ev.Type == failover.EventAlert && strings.Contains(ev.Message, "closed the status stream")
	}
	if !waitUntil(2*time.Second, func() bool { return f.watchCount() == 2 && rec.count(closed) == 1 }) {
		t.Fatalf("%d watches, events:%v", f.watchCount(), &rec)
	}
	// The new stream is acted on.
	offline.Store("b1", true)
	if !waitUntil(2*time.Second, func() bool { return rec.countType(failover.EventFenced) == 1 }) {
		t.Fatalf("statuses on the new stream not acted on:%v", &rec)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil when ctx ends", err)
	}
}

func TestMonitorRunStopsWhenRefusedOnRewatch(t *testing.T) {
	f := &fakeManager{refuse: fmt.Errorf("watcher %q: %w", "b2", rack.ErrUnknownServer)}
	hv, _ := memhv.New(memhv.DefaultConfig("b2"))
	m, err := failover.NewMonitor(failover.Config{Server: "b2", Manager: f, Store: memstore.New(), Hypervisor: hv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	if !waitUntil(time.Second, func() bool { return f.watchCount() == 1 }) {
		t.Fatal("Run never watched")
	}
	f.closeStream()
	select {
	case err := <-done:
		if !errors.Is(err, rack.ErrUnknownServer) {
			t.Errorf("Run = %v, want rack.ErrUnknownServer", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return when the rack manager refused it")
	}
}

// hangHV hangs Start of the VMs named, ignoring the context, until the
// test ends.
type hangHV struct {
	hypervisor.Hypervisor
	hang      map[string]bool
	onlyFirst bool // hang the first Start only
	release   chan struct{}
	hung      atomic.Int32
}

func (h *hangHV) Start(ctx context.Context, img imagestore.Image) error {
	if h.hang[img.Name] && (!h.onlyFirst || h.hung.Load() == 0) {
		h.hung.Add(1)
		<-h.release
		return errors.New("released at the end of the test")
	}
	return h.Hypervisor.Start(ctx, img)
}

// One watcher of two failed servers: server A's VM start hangs, server
// B's VMs start all the same.
func TestMonitorOneTakeoverDoesNotDelayAnother(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	for _, img := range []imagestore.Image{
		{Name: "a0", Owner: "A", Definition: []byte("x"), Priority: 9},
		{Name: "b0", Owner: "B", Definition: []byte("x")},
		{Name: "b1", Owner: "B", Definition: []byte("x")},
		{Name: "b2", Owner: "B", Definition: []byte("x")},
	} {
		if _, err := store.Put(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	inner, _ := memhv.New(memhv.DefaultConfig("W"))
	hv := &hangHV{Hypervisor: inner, hang: map[string]bool{"a0": true}, release: make(chan struct{})}
	t.Cleanup(func() { close(hv.release) })
	f := &fakeManager{}
	var rec recorder
	m, err := failover.NewMonitor(failover.Config{Server: "W", Manager: f, Store: store, Hypervisor: hv, Policy: fastPolicy(),
		ActionTimeout: time.Minute, TickInterval: 10 * time.Millisecond, OnEvent: rec.record, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var offline sync.Map
	offline.Store("A", true)
	wg.Add(2)
	go func() { defer wg.Done(); f.feed(runCtx, &offline, "A", "B") }()
	go func() { defer wg.Done(); _ = m.Run(runCtx) }()
	if !waitUntil(3*time.Second, func() bool { return hv.hung.Load() == 1 }) {
		t.Fatalf("A's VM never started:%v", &rec)
	}
	offline.Store("B", true)
	startedB := func(ev failover.Event) bool { return ev.Type == failover.EventBackupStarted && ev.Server == "B" }
	if !waitUntil(3*time.Second, func() bool { return rec.count(startedB) == 3 }) {
		t.Fatalf("B's VMs waited for A's hung start:%v", &rec)
	}
	if m.Phase("A") != failover.PhaseStarting || m.Phase("B") != failover.PhaseRestarting && m.Phase("B") != failover.PhaseRecovering {
		t.Errorf("phases A %v, B %v; want A starting, B done", m.Phase("A"), m.Phase("B"))
	}
	for _, vm := range []string{"b0", "b1", "b2"} {
		if st, err := inner.State(ctx, vm); err != nil || st != hypervisor.StateRunning {
			t.Errorf("%s on W: %v %v", vm, st, err)
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
		var err error
		r.once.Do(func() {
			var cur imagestore.Image
			if cur, err = r.Store.Get(ctx, img.Name); err == nil {
				_, err = imagestore.Claim(ctx, r.Store, cur, "b3")
			}
		})
		if err != nil {
			return imagestore.Image{}, err
		}
	}
	return r.Store.Put(ctx, img)
}

// A watcher whose claim finds the image moved by a third server does not
// start it, and says who owns it.
func TestMonitorNeverStartsAVMClaimedElsewhere(t *testing.T) {
	p := newPair(t, 1, nil)
	m, err := failover.NewMonitor(failover.Config{Server: "b2", Manager: p.mgr, Store: &racingStore{Store: p.store},
		Hypervisor: p.hv2, Policy: fastPolicy(), TickInterval: 10 * time.Millisecond, OnEvent: p.record, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	run(t, p.mgr, m)
	p.fail()
	ownedByB3 := func(ev failover.Event) bool {
		return ev.Type == failover.EventAlert && ev.VM == "vm0" && strings.Contains(ev.Message, "owned by b3")
	}
	if !waitUntil(3*time.Second, func() bool { return p.count(ownedByB3) == 1 }) {
		t.Fatalf("no alert says vm0 is owned by b3:%v", &p.recorder)
	}
	if n := p.countType(failover.EventBackupStarted); n != 0 {
		t.Fatalf("backup started although b3 owns the VM")
	}
	if _, err := p.hv2.State(context.Background(), "vm0"); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("vm0 on b2: %v, want ErrNotFound", err)
	}
}

// A monitor that starts owns VMs its hypervisor does not run (its server
// rebooted): Run starts each once, bumping its token, and a second Run
// finds nothing to do.
func TestMonitorReconcilesOnStart(t *testing.T) {
	p := newPair(t, 2, nil)
	ctx := context.Background()
	p.hv1.PowerOff()
	p.hv1.PowerOn()
	before, _ := p.store.Get(ctx, "vm0")
	for range 2 {
		m, err := failover.NewMonitor(failover.Config{Server: "b1", Manager: p.mgr, Store: p.store, Hypervisor: p.hv1,
			Policy: fastPolicy(), OnEvent: p.record, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.Run(runCtx) }()
		waitUntil(time.Second, func() bool { return p.countType(failover.EventReconciled) == 2 })
		time.Sleep(50 * time.Millisecond) // anything more would come now
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := p.countType(failover.EventReconciled); n != 2 {
		t.Errorf("%d reconciled events, want 2:%v", n, &p.recorder)
	}
	after, _ := p.store.Get(ctx, "vm0")
	if after.Generation != before.Generation+1 || after.Owner != "b1" {
		t.Errorf("generation %d -> %d owner %q: want one bump, owner b1", before.Generation, after.Generation, after.Owner)
	}
	if st, err := p.hv1.State(ctx, "vm1"); err != nil || st != hypervisor.StateRunning {
		t.Errorf("vm1: %v %v", st, err)
	}
}

func TestNewMonitorNamesMissingField(t *testing.T) {
	_, err := failover.NewMonitor(failover.Config{Server: "b2"})
	if !errors.Is(err, failover.ErrInvalidConfig) || err.Error() != "failover: invalid configuration: Config.Manager is nil" {
		t.Errorf("NewMonitor = %v", err)
	}
}

// A Policy the caller filled in part is used as given, so its zero fields
// are errors that name them; it is never silently replaced by defaults.
func TestNewMonitorKeepsAPartPolicy(t *testing.T) {
	hv, _ := memhv.New(memhv.DefaultConfig("b2"))
	cfg := failover.Config{Server: "b2", Manager: &fakeManager{}, Store: memstore.New(), Hypervisor: hv,
		Policy: failover.Policy{DebouncePolls: 2, Evacuate: true}}
	_, err := failover.NewMonitor(cfg)
	if !errors.Is(err, failover.ErrInvalidPolicy) || !strings.Contains(err.Error(), "Policy.MaxStatusGap 0s") {
		t.Errorf("NewMonitor with a part Policy = %v, want ErrInvalidPolicy naming Policy.MaxStatusGap", err)
	}
	cfg.Policy = failover.Policy{}
	if _, err := failover.NewMonitor(cfg); err != nil {
		t.Errorf("NewMonitor with the zero Policy = %v, want DefaultPolicy()", err)
	}
}

// Run called again after its context ended starts afresh, as after a
// restart: what the first Run was waiting on (here a start that hung) is
// not held against the second, which reconciles the VM.
func TestMonitorRunAgainAfterCancel(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	if _, err := store.Put(ctx, imagestore.Image{Name: "a0", Owner: "A", Definition: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	inner, _ := memhv.New(memhv.DefaultConfig("W"))
	hv := &hangHV{Hypervisor: inner, hang: map[string]bool{"a0": true}, onlyFirst: true, release: make(chan struct{})}
	t.Cleanup(func() { close(hv.release) })
	f := &fakeManager{}
	var rec recorder
	pol := fastPolicy()
	pol.MaxParallelStarts = 1
	m, err := failover.NewMonitor(failover.Config{Server: "W", Manager: f, Store: store, Hypervisor: hv, Policy: pol,
		ActionTimeout: time.Minute, TickInterval: 10 * time.Millisecond, OnEvent: rec.record, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	feedCtx, stopFeed := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stopFeed(); wg.Wait() })
	var offline sync.Map
	offline.Store("A", true)
	wg.Add(1)
	go func() { defer wg.Done(); f.feed(feedCtx, &offline, "A") }()

	first, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(first) }()
	if !waitUntil(3*time.Second, func() bool { return hv.hung.Load() == 1 }) {
		t.Fatalf("a0 never started:%v", &rec)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	second, cancel2 := context.WithCancel(ctx)
	defer cancel2()
	go func() { done <- m.Run(second) }()
	defer func() { cancel2(); <-done }()
	if !waitUntil(3*time.Second, func() bool {
		st, err := inner.State(ctx, "a0")
		return err == nil && st == hypervisor.StateRunning
	}) {
		t.Fatalf("a0 not started by the second Run; phase of A %v:%v", m.Phase("A"), &rec)
	}
	if !waitUntil(3*time.Second, func() bool { return m.Phase("A") == failover.PhaseRecovering }) {
		t.Errorf("A's takeover did not finish in the second Run: phase %v", m.Phase("A"))
	}
}

// LastStep follows Run's loop: it advances with every tick while no
// status comes, and stops while the loop is blocked (here by an OnEvent
// that does not return), so a watchdog gated on it stops being kicked.
func TestMonitorLastStep(t *testing.T) {
	f := &fakeManager{}
	block := make(chan struct{})
	var once sync.Once
	hv, _ := memhv.New(memhv.DefaultConfig("b2"))
	m, err := failover.NewMonitor(failover.Config{Server: "b2", Manager: f, Store: memstore.New(), Hypervisor: hv, Policy: fastPolicy(),
		TickInterval: 10 * time.Millisecond, Logger: quiet,
		OnEvent: func(ev failover.Event) {
			if ev.Type == failover.EventFenced {
				once.Do(func() { <-block })
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.LastStep().IsZero() {
		t.Fatalf("LastStep before Run = %v, want zero", m.LastStep())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	if !waitUntil(time.Second, func() bool { return f.watchCount() == 1 }) {
		t.Fatal("Run never watched")
	}
	first := m.LastStep()
	if !waitUntil(time.Second, func() bool { return m.LastStep().Sub(first) >= 30*time.Millisecond }) {
		t.Fatalf("LastStep did not advance with ticks: %v then %v", first, m.LastStep())
	}
	var offline sync.Map
	offline.Store("b1", true)
	go f.feed(ctx, &offline, "b1")
	if !waitUntil(2*time.Second, func() bool { return time.Since(m.LastStep()) > 200*time.Millisecond }) {
		t.Fatalf("LastStep kept advancing while the loop was blocked: %v ago", time.Since(m.LastStep()))
	}
	close(block)
	if !waitUntil(time.Second, func() bool { return time.Since(m.LastStep()) < 100*time.Millisecond }) {
		t.Fatalf("LastStep did not resume: %v ago", time.Since(m.LastStep()))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}
