package libvirthv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
)

// confirmingManager fences at once: the benchmark times what follows the
// confirmed fence, not the BMC.
type confirmingManager struct{}

func (confirmingManager) Watch(ctx context.Context, _ string) (<-chan rack.Status, error) {
	ch := make(chan rack.Status)
	go func() { <-ctx.Done(); close(ch) }()
	return ch, nil
}

func (confirmingManager) Power(context.Context, string, bmc.PowerAction) error { return nil }

// takeoverRig is server A with n protected VMs in the store and an empty
// host B watching it through a failover.Monitor.
type takeoverRig struct {
	b       host
	store   *memstore.Store
	mon     *failover.Monitor
	fenced  time.Time
	started []time.Time
}

func newTakeoverRig(tb testing.TB, n int) *takeoverRig {
	tb.Helper()
	dir := tb.TempDir()
	disks := filepath.Join(dir, "disks")
	mkdirs(tb, disks)
	r := &takeoverRig{store: memstore.New()}
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
	mon, err := failover.NewMonitor(failover.Config{
		Server:     "b",
		Manager:    confirmingManager{},
		Store:      r.store,
		Hypervisor: r.b.hv,
		Policy:     pol,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnEvent: func(ev failover.Event) {
			switch ev.Type {
			case failover.EventFenced:
				r.fenced = time.Now()
			case failover.EventBackupStarted:
				r.started = append(r.started, time.Now())
			}
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	r.mon = mon
	return r
}

// failA reports A without power; the monitor fences it and starts every
// backup on B before Step returns. It returns fence-to-last-start.
func (r *takeoverRig) failA(tb testing.TB) time.Duration {
	tb.Helper()
	r.mon.Step(context.Background(), rack.Status{Server: "a", Time: time.Now(), Reachable: true, Health: bmc.Health{Power: bmc.PowerOff}})
	if r.fenced.IsZero() || len(r.started) == 0 {
		tb.Fatalf("no takeover: fenced %v, %d started", r.fenced, len(r.started))
	}
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
// store, then Start on libvirt's test driver, one VM after another.
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
