package libvirthv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
)

// confirmingManager delivers the statuses the test sends and fences at
// once: the benchmark times what follows the confirmed fence, not the BMC.
type confirmingManager struct{ statuses chan rack.Status }

func (m confirmingManager) Watch(ctx context.Context, _ string) (<-chan rack.Status, error) {
	ch := make(chan rack.Status)
	go func() {
		defer close(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case st := <-m.statuses:
				select {
				case ch <- st:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, nil
}

func (confirmingManager) Power(context.Context, string, bmc.PowerAction) error { return nil }

// takeoverRig is server A with n protected VMs in the store and an empty
// host B watching it through a failover.Monitor.
type takeoverRig struct {
	b        host
	store    *memstore.Store
	mon      *failover.Monitor
	statuses chan rack.Status
	n        int

	mu      sync.Mutex
	fenced  time.Time
	started []time.Time
	done    chan struct{} // closed at the n-th backup started
}

func newTakeoverRig(tb testing.TB, n int) *takeoverRig {
	tb.Helper()
	dir := tb.TempDir()
	disks := filepath.Join(dir, "disks")
	mkdirs(tb, disks)
	r := &takeoverRig{store: memstore.New(), statuses: make(chan rack.Status), n: n, done: make(chan struct{})}
	r.b = openHost(tb, "hostB.xml", dir, disks, dir)
	r.b.hv.cfg.CPUOvercommit = 8 // 64 vCPUs on B's 8 CPUs
	for i := range n {
		img := testImage(tb, disks, fmt.Sprintf("vm%03d", i), "a")
		img.Generation = 0
		if _, err := r.store.Put(context.Background(), img); err != nil {
			tb.Fatal(err)
		}
	}
	pol := failover.DefaultPolicy()
	pol.DebouncePolls = 1
	pol.FenceSettle = 0 // the benchmark times what follows the fence
	mon, err := failover.NewMonitor(failover.Config{
		Server:     "b",
		Manager:    confirmingManager{statuses: r.statuses},
		Store:      r.store,
		Hypervisor: r.b.hv,
		Policy:     pol,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnEvent: func(ev failover.Event) {
			r.mu.Lock()
			defer r.mu.Unlock()
			switch ev.Type {
			case failover.EventFenced:
				r.fenced = time.Now()
			case failover.EventBackupStarted:
				r.started = append(r.started, time.Now())
				if len(r.started) == r.n {
					close(r.done)
				}
			}
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	r.mon = mon
	return r
}

// failA reports A without power to B's running monitor, which fences it
// and starts every backup on B, up to MaxParallelStarts at once. It
// returns fence-to-last-start.
func (r *takeoverRig) failA(tb testing.TB) time.Duration {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.mon.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			tb.Error(err)
		}
	}()
	r.statuses <- rack.Status{Server: "a", Time: time.Now(), Reachable: true, Health: bmc.Health{Power: bmc.PowerOff}}
	select {
	case <-r.done:
	case <-time.After(2 * time.Minute):
		r.mu.Lock()
		defer r.mu.Unlock()
		tb.Fatalf("no takeover: fenced %v, %d of %d started", r.fenced, len(r.started), r.n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started[len(r.started)-1].Sub(r.fenced)
}

func (r *takeoverRig) check(tb testing.TB, n int) {
	tb.Helper()
	vms, err := r.b.hv.List(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if len(vms) != n || len(r.started) != n {
		tb.Fatalf("B lists %d VMs, %d backup-started events; want %d each", len(vms), len(r.started), n)
	}
	for _, vm := range vms {
		if vm.State != hypervisor.StateRunning {
			tb.Fatalf("%s is %v on B", vm.Name, vm.State)
		}
	}
	owned, err := imagestore.OwnedBy(context.Background(), r.store, "b")
	if err != nil || len(owned) != n {
		tb.Fatalf("store: %d images owned by b (%v), want %d", len(owned), err, n)
	}
}

// Server A with 1, 10 and 50 VMs loses power; B's monitor fences it and
// every VM runs once on B, owned by B.
func TestMonitorTakeover(t *testing.T) {
	for _, n := range []int{1, 10, 50} {
		t.Run(fmt.Sprintf("vms=%d", n), func(t *testing.T) {
			r := newTakeoverRig(t, n)
			took := r.failA(t)
			r.check(t, n)
			t.Logf("%d VMs: fence confirmed to every backup running: %v", n, took)
		})
	}
}

// BenchmarkFenceToRunning times, per takeover, from the fence confirmed
// to the last backup running on B, through failover.Monitor: claim in the
// store, then Start on libvirt's test driver, up to MaxParallelStarts at
// once.
func BenchmarkFenceToRunning(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
			var total time.Duration
			var samples []time.Duration
			for b.Loop() {
				b.StopTimer()
				r := newTakeoverRig(b, n)
				b.StartTimer()
				took := r.failA(b)
				b.StopTimer()
				r.check(b, n)
				total += took
				samples = append(samples, took)
				b.StartTimer()
			}
			sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
			b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "ms-fence-to-running-median")
			b.ReportMetric(float64(total.Microseconds())/1000/float64(len(samples)), "ms-fence-to-running-mean")
		})
	}
}
