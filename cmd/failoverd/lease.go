package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rackha/failover/lease/etcdlease"
	"github.com/rackha/failover/watchdog"
)

// A monitor with lease.enabled holds this server's etcd lease (a Keeper)
// and kicks its watchdog only while the lease is alive by its own clock
// and its loop is alive (gatedWatchdog); its watcher reads its peers'
// leases from the same Store (failover.Config.Leases).

// leaseWaitLog is how often a monitor waiting for its lease says so.
const leaseWaitLog = 5 * time.Second

// monitorLeases is a monitor's lease store and keeper.
type monitorLeases struct {
	store  *etcdlease.Store
	keeper *etcdlease.Keeper
	spec   leaseSpec
}

// newLeases opens server i's lease store on the process's etcd client,
// watching the servers i watches; nil when leases are off.
func (d *daemon) newLeases(a *adapters, i int, log *slog.Logger) (*monitorLeases, error) {
	ls, err := d.cfg.leaseSpec()
	if err != nil || !ls.Enabled {
		return nil, err
	}
	cli, es, err := d.etcdClient(a, d.cfg.Servers[i].TLS)
	if err != nil {
		return nil, err
	}
	topo, err := d.cfg.topology()
	if err != nil {
		return nil, err
	}
	name := d.cfg.Servers[i].Name
	cfg := etcdlease.DefaultConfig()
	cfg.Client, cfg.Prefix, cfg.TTL, cfg.RequestTimeout = cli, es.Prefix, ls.TTL, es.RequestTimeout
	cfg.Peers, cfg.Logger = topo.Watched(name), log
	s, err := etcdlease.New(cfg)
	if err != nil {
		return nil, d.cfg.errAt("lease", "refused", err)
	}
	a.closers = append(a.closers, s)
	return &monitorLeases{store: s, keeper: s.Keeper(name), spec: ls}, nil
}

// gate wraps the watchdog the updater kicks: it kicks only while the
// lease is alive (and whatever w itself requires).
func (l *monitorLeases) gate(w watchdog.Watchdog) watchdog.Watchdog {
	if l == nil {
		return w
	}
	return etcdlease.GateWatchdog(w, l.keeper)
}

// start runs the keeper until the returned stop is called, and waits
// until it holds its lease, saying so every logEvery while it waits.
// It returns an error when ctx ends first or the keeper stops.
func (l *monitorLeases) start(ctx context.Context, log *slog.Logger, logEvery time.Duration) (stop func(), err error) {
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- l.keeper.Run(kctx) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			log.Error("failoverd: lease keeper", "err", err)
		}
	}
	began := time.Now()
	t := time.NewTicker(logEvery)
	defer t.Stop()
	for {
		select {
		case <-l.keeper.Held():
			log.Info("failoverd: lease held; watching and kicking the watchdog", "ttl", l.spec.TTL, "waited", time.Since(began).Round(time.Millisecond))
			return stop, nil
		case err := <-done:
			cancel()
			if err == nil {
				err = ctx.Err()
			}
			return func() {}, fmt.Errorf("lease keeper stopped before the lease was held: %w", err)
		case <-ctx.Done():
			stop()
			return func() {}, ctx.Err()
		case <-t.C:
			_, why := l.keeper.Alive()
			log.Warn("failoverd: waiting for this server's lease in etcd; not watching, the watchdog not armed", "waited", time.Since(began).Round(time.Second), "why", why)
		}
	}
}
