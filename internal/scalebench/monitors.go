package scalebench

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/rackha/failover"
	"github.com/rackha/failover/rack/rackhttp"
)

// monitors are every server's failover.Monitor, as goroutines of this
// process: each reaches its rack manager over mutual TLS with its own
// certificate and connection (rackhttp.Client), its rack's image store
// in etcd, and its own simulated hypervisor in memory. Defaults
// throughout (failover.DefaultConfig, DefaultPolicy); no peers'
// hypervisors, so a failed peer is fenced and cold-started.
type monitors struct {
	mons     []*failover.Monitor
	managers []*countingManager
	clients  []*rackhttp.Client
	stores   []*listedStore
	statuses atomic.Int64 // delivered to every monitor so far
	events   *eventCount
	wg       sync.WaitGroup
	mu       sync.Mutex
	errs     []error
}

// startMonitors starts the monitors of every server of rr.
func (ms *monitors) start(ctx context.Context, rr *rackRig, certs certFiles, starts *startLog, log *slog.Logger) error {
	for _, name := range rr.names {
		files, err := rackhttp.LoadFiles(certs.cert(name), certs.key(name), certs.ca())
		if err != nil {
			return fmt.Errorf("monitor %s: %w", name, err)
		}
		mlog := log.With("server", name)
		cl, err := rackhttp.NewClient(rackhttp.ClientConfig{URL: rr.url, TLS: rackhttp.ClientTLS(files, rackManagerName), Logger: mlog})
		if err != nil {
			return fmt.Errorf("monitor %s: %w", name, err)
		}
		ms.clients = append(ms.clients, cl)
		mgr := &countingManager{Manager: cl, total: &ms.statuses}
		ms.managers = append(ms.managers, mgr)
		hv := rr.hvs[name]
		mc := failover.DefaultConfig()
		store := &listedStore{Store: rr.store}
		ms.stores = append(ms.stores, store)
		mc.Server, mc.Manager, mc.Store, mc.Logger = name, mgr, store, mlog
		mc.OnEvent = ms.events.add
		mc.Hypervisor = &timedHypervisor{Hypervisor: hv, capacity: hv, host: name, log: starts}
		mon, err := failover.NewMonitor(mc)
		if err != nil {
			return fmt.Errorf("monitor %s: %w", name, err)
		}
		ms.mons = append(ms.mons, mon)
		ms.wg.Add(1)
		go func() {
			defer ms.wg.Done()
			if err := mon.Run(ctx); err != nil && ctx.Err() == nil {
				ms.mu.Lock()
				ms.errs = append(ms.errs, fmt.Errorf("monitor %s stopped: %w", name, err))
				ms.mu.Unlock()
			}
		}()
	}
	return nil
}

// failed lists the monitors that stopped on their own.
func (ms *monitors) failed() []error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]error(nil), ms.errs...)
}

// fed is how many monitors have received at least one status.
func (ms *monitors) fed() int {
	n := 0
	for _, m := range ms.managers {
		if m.got.Load() > 0 {
			n++
		}
	}
	return n
}

// reconciled is how many monitors have read what they own.
func (ms *monitors) reconciled() int {
	n := 0
	for _, s := range ms.stores {
		if s.listed.Load() {
			n++
		}
	}
	return n
}

// wait waits for every monitor to return (after ctx ends) and closes the
// clients.
func (ms *monitors) wait() {
	ms.wg.Wait()
	for _, c := range ms.clients {
		c.Close()
	}
}
