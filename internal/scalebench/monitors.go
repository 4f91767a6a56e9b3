package scalebench

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/lease/etcdlease"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackhttp"
	"github.com/rackha/failover/watchdog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseSetup is how monitors hold their leases.
type leaseSetup struct {
	client   *clientv3.Client // the rack's
	ttl      time.Duration
	watchdog time.Duration // the BMC watchdog's countdown
	margin   time.Duration // Policy.LeaseDriftMargin
	// own, for a server whose total power loss the run injects, is a
	// client of its own through a proxy the run can cut.
	own map[string]*clientv3.Client
}

// monitors are every server's failover.Monitor, as goroutines of this
// process: each reaches its rack manager (every replica, as the daemon's
// monitors do) over mutual TLS with its own certificate and connection
// (rackhttp.Client), its rack's image store in etcd, and its own
// simulated hypervisor in memory. Defaults throughout
// (failover.DefaultConfig, DefaultPolicy); no peers' hypervisors, so a
// failed peer is fenced and cold-started. With leases, each holds its
// etcd lease (etcdlease.Keeper), reads its watched peer's
// (Config.Leases), and kicks its BMC's in-band watchdog (power-down,
// every third of its timeout) only while the lease is alive.
type monitors struct {
	mons     []*failover.Monitor
	managers []*countingManager
	clients  []*rackhttp.Client
	stores   []*listedStore
	leases   []*etcdlease.Store
	stop     map[string]context.CancelFunc // ends one server's monitor
	statuses atomic.Int64                  // delivered to every monitor so far
	events   *eventCount
	wg       sync.WaitGroup
	mu       sync.Mutex
	errs     []error
}

// start starts the monitors of every server of rr; ls nil: no leases.
func (ms *monitors) start(ctx context.Context, rr *rackRig, certs certFiles, starts *startLog, ls *leaseSetup, log *slog.Logger) error {
	if ms.stop == nil {
		ms.stop = map[string]context.CancelFunc{}
	}
	topo, err := rack.Ring(rr.names...)
	if err != nil {
		return err
	}
	first, others := rr.urls()
	for _, name := range rr.names {
		files, err := rackhttp.LoadFiles(certs.cert(name), certs.key(name), certs.ca())
		if err != nil {
			return fmt.Errorf("monitor %s: %w", name, err)
		}
		mlog := log.With("server", name)
		cl, err := rackhttp.NewClient(rackhttp.ClientConfig{URL: first, URLs: others, TLS: rackhttp.ClientTLS(files, rackManagerName), Logger: mlog})
		if err != nil {
			return fmt.Errorf("monitor %s: %w", name, err)
		}
		ms.clients = append(ms.clients, cl)
		mgr := &countingManager{Manager: cl, total: &ms.statuses}
		ms.managers = append(ms.managers, mgr)
		hv := rr.hvs[name]
		store := &listedStore{Store: rr.store}
		ms.stores = append(ms.stores, store)
		mc := failover.DefaultConfig()
		mc.Server, mc.Manager, mc.Store, mc.Logger = name, mgr, store, mlog
		mc.Hypervisor = &timedHypervisor{Hypervisor: hv, capacity: hv, host: name, log: starts}
		mc.OnEvent = ms.events.add
		var keeper *etcdlease.Keeper
		var updater *watchdog.Updater
		if ls != nil {
			lc := etcdlease.DefaultConfig()
			lc.Client, lc.Prefix, lc.Peers, lc.Logger, lc.TTL = ls.client, rr.prefix, topo.Watched(name), mlog, ls.ttl
			if own := ls.own[name]; own != nil {
				lc.Client = own
			}
			leases, err := etcdlease.New(lc)
			if err != nil {
				return fmt.Errorf("monitor %s: %w", name, err)
			}
			ms.leases = append(ms.leases, leases)
			keeper = leases.Keeper(name)
			mc.Leases = leases
			mc.Policy.LeaseDriftMargin = ls.margin
			uc := watchdog.DefaultUpdaterConfig()
			uc.Timeout, uc.Interval, uc.CallTimeout, uc.Logger = ls.watchdog, ls.watchdog/3, ls.watchdog/6, mlog
			if updater, err = watchdog.NewUpdater(etcdlease.GateWatchdog(rr.bmcs[name].InBand(), keeper), uc); err != nil {
				return fmt.Errorf("monitor %s: %w", name, err)
			}
		}
		mon, err := failover.NewMonitor(mc)
		if err != nil {
			return fmt.Errorf("monitor %s: %w", name, err)
		}
		ms.mons = append(ms.mons, mon)
		mctx, stop := context.WithCancel(ctx)
		ms.stop[name] = stop
		ms.wg.Add(1)
		go func() {
			defer ms.wg.Done()
			if err := runMonitor(mctx, mon, keeper, updater); err != nil && mctx.Err() == nil {
				ms.mu.Lock()
				ms.errs = append(ms.errs, fmt.Errorf("monitor %s stopped: %w", name, err))
				ms.mu.Unlock()
			}
		}()
	}
	return nil
}

// runMonitor runs one server's monitor until ctx ends. With a keeper, it
// first waits for the lease, as the daemon does; the keeper outlives the
// monitor and the updater.
func runMonitor(ctx context.Context, mon *failover.Monitor, keeper *etcdlease.Keeper, updater *watchdog.Updater) error {
	if keeper == nil {
		return mon.Run(ctx)
	}
	kctx, stopKeeper := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan error, 1)
	go func() { kept <- keeper.Run(kctx) }()
	defer func() { stopKeeper(); <-kept }()
	select {
	case <-keeper.Held():
	case err := <-kept:
		return fmt.Errorf("lease keeper stopped before the lease was held: %w", err)
	case <-ctx.Done():
		return nil
	}
	uctx, stopUpdater := context.WithCancel(ctx)
	updated := make(chan error, 1)
	go func() { updated <- updater.Run(uctx) }()
	err := mon.Run(ctx)
	stopUpdater()
	if uerr := <-updated; uerr != nil && ctx.Err() == nil {
		return fmt.Errorf("watchdog updater: %w", uerr)
	}
	return err
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
	for _, l := range ms.leases {
		l.Close()
	}
}
