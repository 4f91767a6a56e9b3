package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/filestore"
	"github.com/rackha/failover/internal/demosim"
	"github.com/rackha/failover/rack"
)

// tickingManager delivers a healthy status of s2 every 100 ms.
type tickingManager struct{}

func (tickingManager) Watch(ctx context.Context, _ string) (<-chan rack.Status, error) {
	ch := make(chan rack.Status)
	go func() {
		defer close(ch)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				st := rack.Status{Server: "s2", Time: now, Reachable: true, Health: bmc.Health{Power: bmc.PowerOn}}
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

func (tickingManager) Power(context.Context, string, bmc.PowerAction) error { return nil }

// blockedWriter never returns: stdout that nobody reads.
type blockedWriter struct{ ctx context.Context }

func (b blockedWriter) Write([]byte) (int, error) { <-b.ctx.Done(); return 0, b.ctx.Err() }

// The monitor role's watchdog stops when its main loop stalls while the
// process lives on: here the loop blocks writing an event to a stdout
// nobody reads. The simulated BMC's watchdog then expires and powers the
// server down. With a stdout that is read, the same run keeps it alive.
func TestWatchdogStopsWhenTheMonitorLoopStalls(t *testing.T) {
	for _, stalled := range []bool{true, false} {
		t.Run(fmt.Sprintf("stalled=%v", stalled), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sockDir, err := os.MkdirTemp("", "fd-stall")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(sockDir) })
			socket := filepath.Join(sockDir, "sim.sock")
			bmcs, hvs := map[string]*simbmc.BMC{}, map[string]*memhv.Hypervisor{}
			storage := memhv.NewStorage()
			for _, n := range []string{"s1", "s2"} {
				b, hv, err := demosim.NewHost(simbmc.DefaultConfig(n), memhv.Config{Name: n, Capacity: hypervisor.Capacity{MemoryMiB: 8192, CPUs: 8}, Storage: storage})
				if err != nil {
					t.Fatal(err)
				}
				bmcs[n], hvs[n] = b, hv
			}
			ln, err := net.Listen("unix", socket)
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- demosim.Serve(ctx, ln, bmcs, hvs) }()
			defer func() { cancel(); <-served }()
			dir := t.TempDir()
			store, err := filestore.Open(filepath.Join(dir, "images"))
			if err != nil {
				t.Fatal(err)
			}
			// Owned by s1 and not running: the boot's reconcile starts it,
			// which is an event.
			if _, err := store.Put(ctx, imagestore.Image{Name: "vm1", Definition: []byte("{}"), Owner: "s1", MemoryMiB: 512, CPUs: 1}); err != nil {
				t.Fatal(err)
			}
			store.Close()
			text := fmt.Sprintf(`topology: pairs
servers:
  - name: s1
    bmc: {kind: sim}
    hypervisor: {kind: sim}
    watchdog: {kind: sim, timeout: 2s, interval: 200ms, stall_after: 1s}
    tls: {cert: unused.pem, key: unused-key.pem}
  - name: s2
    bmc: {kind: sim}
    hypervisor: {kind: sim}
    watchdog: {kind: none}
    tls: {cert: unused.pem, key: unused-key.pem}
rack_manager: {listen: "127.0.0.1:1", url: "https://127.0.0.1:1", tls: {cert: unused.pem, key: unused-key.pem}}
image_store: {kind: file, dir: %q}
tls: {ca: unused.pem}
log: {events: true}
monitor: {tick_interval: 250ms}
demo: {socket: %q}
`, filepath.Join(dir, "images"), socket)
			cfg, err := ParseConfig("stall.yaml", []byte(text))
			if err != nil {
				t.Fatal(err)
			}
			var out io.Writer = io.Discard
			if stalled {
				out = blockedWriter{ctx}
			}
			d := &daemon{cfg: cfg, log: discardLogger(), events: newEventWriter(out, true)}
			a := &adapters{cfg: cfg, log: d.log}
			defer a.Close()
			m, err := d.newMonitor(ctx, a, 0, tickingManager{}, false)
			if err != nil {
				t.Fatal(err)
			}
			ran := make(chan error, 1)
			go func() { ran <- m.Run(ctx) }()
			// Timeout 2 s plus stall_after 1 s, and a margin.
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if bmcs["s1"].HostPower() == bmc.PowerOff {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			st, err := bmcs["s1"].State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			off := bmcs["s1"].HostPower() == bmc.PowerOff
			if stalled && (!off || !st.Expired) {
				t.Errorf("stalled loop: watchdog %+v, server off %v: want it expired and the server down", st, off)
			}
			if !stalled && (off || st.Expired) {
				t.Errorf("live loop: watchdog %+v, server off %v: want it kicked", st, off)
			}
			if s, _ := hvs["s1"].State(ctx, "vm1"); !stalled && s != hypervisor.StateRunning {
				t.Errorf("live loop: vm1 %v, want started by the reconcile", s)
			}
			cancel()
			<-ran
		})
	}
}
