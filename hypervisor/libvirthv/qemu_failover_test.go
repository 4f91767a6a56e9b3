package libvirthv_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/libvirthv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/filestore"
	"github.com/rackha/failover/internal/qemurig"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
)

// qemuManager is the rack manager of the QEMU tests: it reports server a
// as the test sets it, every 100 ms, and fences a by destroying every
// domain there (the stand-in for cutting its power), confirmed by reading
// back that none runs.
type qemuManager struct {
	powerA *libvirthv.Hypervisor

	mu     sync.Mutex
	status func() rack.Status // a's status now
	fenced bool
}

func (m *qemuManager) set(f func() rack.Status) { m.mu.Lock(); m.status = f; m.mu.Unlock() }

func (m *qemuManager) Watch(ctx context.Context, _ string) (<-chan rack.Status, error) {
	ch := make(chan rack.Status)
	go func() {
		defer close(ch)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			m.mu.Lock()
			st := m.status()
			if m.fenced {
				st.Health = bmc.Health{Power: bmc.PowerOff}
				st.Readings = nil
			}
			m.mu.Unlock()
			st.Server, st.Time, st.Reachable = "a", time.Now(), true
			select {
			case ch <- st:
			case <-ctx.Done():
				return
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

func (m *qemuManager) Power(ctx context.Context, server string, action bmc.PowerAction) error {
	if server != "a" {
		return fmt.Errorf("qemuManager: power %v of unknown server %q", action, server)
	}
	if action != bmc.PowerActionOff {
		return nil // a restart of a: its libvirtd stays up, with nothing running
	}
	vms, err := m.powerA.List(ctx)
	if err != nil {
		return err
	}
	for _, vm := range vms {
		if err := m.powerA.Stop(ctx, vm.Name); err != nil {
			return err
		}
	}
	if vms, err = m.powerA.List(ctx); err != nil {
		return err
	}
	for _, vm := range vms {
		if vm.State != hypervisor.StateStopped {
			return fmt.Errorf("qemuManager: %s is %v on a after the fence", vm.Name, vm.State)
		}
	}
	m.mu.Lock()
	m.fenced = true
	m.mu.Unlock()
	return nil
}

func healthy() rack.Status { return rack.Status{Health: bmc.Health{Power: bmc.PowerOn}} }

// monitorRun is a failover.Monitor on b watching a through qemuManager,
// with events timed as they arrive.
type monitorRun struct {
	mgr   *qemuManager
	timed *timedHV
	store imagestore.Store

	mu     sync.Mutex
	events []failover.Event
	at     map[failover.EventType]time.Time // first of each type
	seen   chan struct{}
}

func startMonitor(t *testing.T, e *qemuEnv, store imagestore.Store) *monitorRun {
	t.Helper()
	r := &monitorRun{mgr: &qemuManager{powerA: e.powerA, status: healthy}, store: store, timed: &timedHV{a: e.a, b: e.b},
		at: map[failover.EventType]time.Time{}, seen: make(chan struct{}, 1)}
	pol := failover.DefaultPolicy()
	pol.DebouncePolls = 1
	mon, err := failover.NewMonitor(failover.Config{
		Server: "b", Manager: r.mgr, Store: store, Hypervisor: timedB{r.timed},
		Peers:  map[string]hypervisor.Hypervisor{"a": timedA{r.timed}},
		Policy: pol, ActionTimeout: time.Minute, TickInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
		OnEvent: func(ev failover.Event) {
			t.Logf("event: %v", ev)
			r.mu.Lock()
			r.events = append(r.events, ev)
			if _, ok := r.at[ev.Type]; !ok {
				r.at[ev.Type] = time.Now()
			}
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mon.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r
}

// wait returns when an event of typ arrived, failing the test after 60 s.
func (r *monitorRun) wait(t *testing.T, typ failover.EventType) time.Time {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		r.mu.Lock()
		at, ok := r.at[typ]
		evs := append([]failover.Event(nil), r.events...)
		r.mu.Unlock()
		if ok {
			return at
		}
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("no %s event within 60 s; events: %v", typ, evs)
		}
	}
}

// protect starts g on a, captures it and stores the image, owned by a.
func protect(t *testing.T, e *qemuEnv, store imagestore.Store, g qemurig.Guest, ticks int) (imagestore.Image, time.Duration) {
	t.Helper()
	boot := e.bootOn(t, e.a, e.rig.A, g, ticks)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	img, err := e.a.Capture(ctx, g.Name)
	if err != nil {
		t.Fatal(err)
	}
	img.Owner = "a"
	if img, err = store.Put(ctx, img); err != nil {
		t.Fatal(err)
	}
	return img, boot
}

func openStore(t *testing.T, e *qemuEnv) *filestore.Store {
	t.Helper()
	s, err := filestore.Open(filepath.Join(e.rig.Shared, "images"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A guest protected on a (captured into the file image store) runs on b
// after a fails: b's Monitor fences a (every domain there destroyed),
// claims the image and cold-starts it from the store, and the guest's
// counter goes on from what its disk held, in a second boot. A second
// start of the VM on a while it runs on b is refused: a cannot claim the
// image (stale generation) and QEMU will not open the disk b holds.
func TestQEMUFailover(t *testing.T) {
	t.Parallel()
	e := newQEMU(t)
	store := openStore(t, e)
	g := e.guest(t, "ha-guest")
	stale, boot := protect(t, e, store, g, 3)
	t.Logf("figure: boot-to-first-tick=%v", boot)
	mon := startMonitor(t, e, store)
	time.Sleep(300 * time.Millisecond) // a few healthy statuses first

	failed := time.Now()
	mon.mgr.set(func() rack.Status { return rack.Status{Health: bmc.Health{Power: bmc.PowerOff}} })
	fenced := mon.wait(t, failover.EventFenced)
	running := mon.wait(t, failover.EventBackupStarted)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ticked time.Time
	s, err := qemurig.WaitSerial(ctx, g.Serial, func(s qemurig.Serial) bool {
		if len(s.Boots) < 2 {
			return false
		}
		after := len(s.Ticks) - s.Boots[1].Index // ticks of the boot on b
		if after > 0 && ticked.IsZero() {
			ticked = time.Now()
		}
		return after >= 2
	})
	if err != nil {
		t.Fatalf("%v\nserial:\n%s\nb's QEMU log:\n%s", err, s.Raw, e.rig.B.QEMULog(g.Name))
	}
	_, start := mon.timed.figures()
	t.Logf("figure: fault-to-fenced=%v fence-to-backup-started=%v fence-to-first-tick-on-b=%v (Start on b %v, FenceSettle %v)",
		fenced.Sub(failed), running.Sub(fenced), ticked.Sub(fenced), start, failover.DefaultPolicy().FenceSettle)

	// a's last tick is on the disk (the guest writes it first), so the
	// second boot starts from it, or from the one after it that reached
	// the disk before a was cut.
	b2 := s.Boots[1]
	if b2.Index == 0 {
		t.Fatalf("no tick on a before the boot on b:\n%s", s.Raw)
	}
	lastA := s.Ticks[b2.Index-1]
	if len(s.Boots) != 2 || b2.Boot != 2 || b2.From < lastA.N || b2.From > lastA.N+1 {
		t.Errorf("boots %+v after a's last tick %d: want one second boot from %d or %d", s.Boots, lastA.N, lastA.N, lastA.N+1)
	}
	if next := s.Ticks[b2.Index]; next.N != b2.From+1 || next.Boot != 2 {
		t.Errorf("first tick on b %+v, want %d of boot 2", next, b2.From+1)
	}
	for i := 1; i < len(s.Ticks); i++ {
		if s.Ticks[i].N < s.Ticks[i-1].N {
			t.Errorf("the counter went back: tick %d after %d", s.Ticks[i].N, s.Ticks[i-1].N)
		}
	}
	t.Logf("a ticked to %d; b booted from %d", lastA.N, b2.From)
	if st := state(t, e.b, g.Name); st != hypervisor.StateRunning {
		t.Errorf("%s is %v on b, want running", g.Name, st)
	}
	cur, err := store.Get(ctx, g.Name)
	if err != nil || cur.Owner != "b" {
		t.Fatalf("store after the takeover: %+v, %v; want owner b", cur, err)
	}

	// a, back, tries to run the VM again from the image it stored.
	if _, err := imagestore.Claim(ctx, store, stale, "a"); !errors.Is(err, imagestore.ErrStaleGeneration) {
		t.Errorf("a's claim of its old image: %v, want ErrStaleGeneration", err)
	}
	err = e.a.Start(ctx, cur)
	if err == nil {
		t.Fatalf("Start on a of the VM running on b succeeded: two copies on one disk")
	}
	t.Logf("second start on a refused: %v", err)
	if st := state(t, e.a, g.Name); st == hypervisor.StateRunning {
		t.Errorf("%s runs on a too", g.Name)
	}
	before := s.Last().N
	if s, err = qemurig.WaitSerial(ctx, g.Serial, func(s qemurig.Serial) bool { return s.Last().N > before }); err != nil || s.Last().Boot != 2 {
		t.Errorf("the guest on b stopped counting after a's attempt: %+v, %v", s.Last(), err)
	}
}

// evacuationStatus is a with its CPU critically hot, still powered.
func evacuationStatus() rack.Status {
	return rack.Status{Health: bmc.Health{Power: bmc.PowerOn}, Readings: []sensor.Reading{{
		Name: "CPU Temp", Kind: sensor.KindTemperature, Value: 97, Unit: "C", Time: time.Now(),
		Thresholds: sensor.Thresholds{UpperCaution: sensor.At(80), UpperCritical: sensor.At(90), UpperFatal: sensor.At(105)},
	}}}
}

// A degraded a (CPU critically hot, still running) is evacuated by b's
// Monitor: it checkpoints the guest on a (saved memory on the shared
// directory, the domain stopped), records the checkpoint in the store and
// resumes it on b. The counter goes on from its exact in-memory value:
// the tick after a's last, of the same boot, and no boot in between.
func TestQEMUEvacuation(t *testing.T) {
	t.Parallel()
	e := newQEMU(t)
	store := openStore(t, e)
	g := e.guest(t, "evac-guest")
	_, boot := protect(t, e, store, g, 3)
	t.Logf("figure: boot-to-first-tick=%v", boot)
	mon := startMonitor(t, e, store)
	time.Sleep(300 * time.Millisecond)

	hot := time.Now()
	mon.mgr.set(evacuationStatus)
	evacuated := mon.wait(t, failover.EventEvacuated)
	running := mon.wait(t, failover.EventBackupStarted)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	atSave, err := qemurig.ReadSerial(g.Serial)
	if err != nil {
		t.Fatal(err)
	}
	lastA := atSave.Last()
	var resumed time.Time
	s, err := qemurig.WaitSerial(ctx, g.Serial, func(s qemurig.Serial) bool {
		if resumed.IsZero() && s.Last().N > lastA.N {
			resumed = time.Now()
		}
		return s.Last().N >= lastA.N+2
	})
	if err != nil {
		t.Fatalf("%v\nserial:\n%s\nb's QEMU log:\n%s", err, s.Raw, e.rig.B.QEMULog(g.Name))
	}
	t.Logf("figure: hot-to-evacuated=%v evacuated-to-backup-started=%v evacuated-to-next-tick-on-b=%v", evacuated.Sub(hot), running.Sub(evacuated), resumed.Sub(evacuated))
	if len(s.Boots) != 1 {
		t.Errorf("boots %+v: the resume booted the guest again", s.Boots)
	}
	for i := 1; i < len(s.Ticks); i++ {
		if s.Ticks[i].N != s.Ticks[i-1].N+1 || s.Ticks[i].Boot != 1 {
			t.Errorf("tick %+v after %+v: want the next of boot 1", s.Ticks[i], s.Ticks[i-1])
		}
	}
	t.Logf("a's last tick %d, b's first %d", lastA.N, s.Ticks[len(atSave.Ticks)].N)
	if st := state(t, e.a, g.Name); st != hypervisor.StateStopped {
		t.Errorf("%s is %v on a after the evacuation, want stopped", g.Name, st)
	}
	if st := state(t, e.b, g.Name); st != hypervisor.StateRunning {
		t.Errorf("%s is %v on b, want running", g.Name, st)
	}
	cur, err := store.Get(ctx, g.Name)
	if err != nil || cur.Owner != "b" || cur.Checkpoint != "" {
		t.Errorf("store after the evacuation: owner %q checkpoint %q, %v; want owner b, the checkpoint used up", cur.Owner, cur.Checkpoint, err)
	}
	if left, _ := filepath.Glob(filepath.Join(e.rig.Checkpoints, "*")); len(left) != 0 {
		t.Errorf("checkpoint files left after the resume: %v", left)
	}
	ck, st := mon.timed.figures()
	t.Logf("figure: checkpoint=%v checkpoint-size=%.1fMB resume=%v (guest %d MiB)", ck.took, float64(ck.size)/1e6, st, g.MemoryMiB)
}

// timedHV times the Monitor's Checkpoint calls on a and Start calls on b.
type timedHV struct {
	a, b *libvirthv.Hypervisor

	mu         sync.Mutex
	checkpoint struct {
		took time.Duration
		size int64
	}
	start time.Duration
}

func (h *timedHV) figures() (struct {
	took time.Duration
	size int64
}, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checkpoint, h.start
}

// timedA is a's hypervisor as b's Monitor sees it.
type timedA struct{ *timedHV }

func (h timedA) Start(ctx context.Context, img imagestore.Image) error { return h.a.Start(ctx, img) }
func (h timedA) Stop(ctx context.Context, name string) error           { return h.a.Stop(ctx, name) }
func (h timedA) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	return h.a.State(ctx, name)
}
func (h timedA) List(ctx context.Context) ([]hypervisor.VM, error) { return h.a.List(ctx) }
func (h timedA) Checkpoint(ctx context.Context, name string) (string, error) {
	begin := time.Now()
	ref, err := h.a.Checkpoint(ctx, name)
	h.mu.Lock()
	h.checkpoint.took, h.checkpoint.size = time.Since(begin), fileSize(ref)
	h.mu.Unlock()
	return ref, err
}

// timedB is b's own hypervisor.
type timedB struct{ *timedHV }

func (h timedB) Start(ctx context.Context, img imagestore.Image) error {
	begin := time.Now()
	err := h.b.Start(ctx, img)
	h.mu.Lock()
	h.start = time.Since(begin)
	h.mu.Unlock()
	return err
}
func (h timedB) Stop(ctx context.Context, name string) error { return h.b.Stop(ctx, name) }
func (h timedB) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	return h.b.State(ctx, name)
}
func (h timedB) List(ctx context.Context) ([]hypervisor.VM, error) { return h.b.List(ctx) }
func (h timedB) FreeCapacity(ctx context.Context) (hypervisor.Capacity, error) {
	return h.b.FreeCapacity(ctx)
}
