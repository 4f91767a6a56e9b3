package rackhttp

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
)

// TestMonitorOverClient: failover.Monitor, unchanged, watches through
// the Client a rack.Local of simbmc servers served over mutual TLS; when
// the watched blade faults, the Monitor fences it through the network
// (audited as the watcher's certificate name) and runs its VM, once.
func TestMonitorOverClient(t *testing.T) {
	t.Parallel() // mostly waiting
	r := newTestRack(t, rackOpts{servers: []string{"a", "b"}, run: true, local: func(c *rack.LocalConfig) {
		c.Interval, c.FastInterval = 100*time.Millisecond, 50*time.Millisecond
	}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })

	storage, store := memhv.NewStorage(), memstore.New()
	hvs := map[string]*memhv.Hypervisor{}
	for _, name := range []string{"a", "b"} {
		cfg := memhv.DefaultConfig(name)
		cfg.Storage = storage
		hv, err := memhv.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		hvs[name] = hv
		img := imagestore.Image{Name: "vm-" + name, Definition: []byte("<domain/>"), Disks: []string{"/shared/vm-" + name + ".qcow2"},
			Owner: name, MemoryMiB: 1024, CPUs: 1}
		if err := hv.Start(ctx, img); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	// The hypervisors follow their hosts' real power.
	wg.Add(1)
	go func() {
		defer wg.Done()
		off := map[string]bool{}
		for ctx.Err() == nil {
			for name, hv := range hvs {
				if p := r.bmcs[name].HostPower(); (p == bmc.PowerOff) != off[name] {
					off[name] = p == bmc.PowerOff
					if off[name] {
						hv.PowerOff()
					} else {
						hv.PowerOn()
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	events := make(chan failover.Event, 256)
	var mu sync.Mutex
	var seen []string
	fenced := false
	policy := failover.DefaultPolicy()
	policy.RetryInterval, policy.EvacuationTimeout, policy.RecoveryTimeout = time.Second, 20*time.Second, 30*time.Second
	mon, err := failover.NewMonitor(failover.Config{
		Server: "b", Manager: r.client("b"), Store: store, Hypervisor: hvs["b"],
		Peers:  map[string]hypervisor.Hypervisor{"a": hvs["a"]},
		Policy: policy, ActionTimeout: 20 * time.Second, TickInterval: 100 * time.Millisecond,
		Clock: failover.DefaultConfig().Clock, Logger: quiet,
		OnEvent: func(e failover.Event) {
			mu.Lock()
			seen = append(seen, fmt.Sprint(e))
			fenced = fenced || e.Type == failover.EventFenced && e.Server == "a"
			mu.Unlock()
			select {
			case events <- e:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = mon.Run(ctx) }()

	// Healthy statuses first, then the fault.
	deadline := time.Now().Add(10 * time.Second)
	for r.local.Journal("a").Len() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no statuses of a")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	r.bmcs["a"].SetFault(true, "processor IERR")
	timeout := time.After(20 * time.Second)
	for started := false; !started; {
		select {
		case e := <-events:
			started = e.Type == failover.EventBackupStarted && e.VM == "vm-a"
		case <-timeout:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("vm-a never started on b; events:\n%s", strings.Join(seen, "\n"))
		}
	}
	if got := storage.Running("vm-a"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("vm-a runs on %v, want only b", got)
	}
	mu.Lock()
	if !fenced {
		t.Errorf("vm-a started without a fence of a; events:\n%s", strings.Join(seen, "\n"))
	}
	mu.Unlock()
	r.wantAudit("b", "a", bmc.PowerActionOff.String(), "confirmed")
}
