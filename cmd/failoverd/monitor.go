package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// monitor is the monitor role of one server: failover.Monitor against
// the rack manager, and the watchdog updater kicking the server's own BMC
// while the monitor's loop is alive.
type monitor struct {
	name    string
	mon     *failover.Monitor
	updater *watchdog.Updater // nil: no watchdog
	leases  *monitorLeases    // nil: lease.enabled is off
	log     *slog.Logger
	events  *eventWriter
}

// newMonitor builds server i's monitor on mgr. inRack is the "all" role:
// the process runs beside the rack manager, so it reaches the server's
// hypervisor as its peers do and kicks no in-band watchdog.
func (d *daemon) newMonitor(ctx context.Context, a *adapters, i int, mgr rack.Manager, inRack bool) (*monitor, error) {
	name := d.cfg.Servers[i].Name
	log := d.log.With("server", name)
	hv, err := a.hypervisor(ctx, i, inRack && d.cfg.Servers[i].Hypervisor.RemoteURI != "")
	if err != nil {
		return nil, err
	}
	peers := map[string]hypervisor.Hypervisor{}
	for j := range d.cfg.Servers {
		if j == i {
			continue
		}
		h, err := a.hypervisor(ctx, j, true)
		if err != nil {
			log.Warn("failoverd: peer hypervisor unreachable: that peer is fenced and cold-started instead of evacuated", "peer", d.cfg.Servers[j].Name, "err", err)
			continue
		}
		if h != nil {
			peers[d.cfg.Servers[j].Name] = h
		}
	}
	store, err := d.imageStore(a, d.cfg.Servers[i].TLS)
	if err != nil {
		return nil, err
	}
	spec, err := d.cfg.watchdogSpec(i, d.cfg.readSecret)
	if err != nil {
		return nil, err
	}
	gate := newLoopGate(mgr, spec.StallAfter)
	policy, err := d.cfg.policy()
	if err != nil {
		return nil, err
	}
	leases, err := d.newLeases(a, i, log)
	if err != nil {
		return nil, err
	}
	mc := failover.DefaultConfig()
	if leases != nil {
		policy.LeaseDriftMargin = leases.spec.DriftMargin
		mc.Leases = leases.store
	}
	mc.Server, mc.Manager, mc.Store, mc.Hypervisor, mc.Peers, mc.Policy = name, gate, store, hv, peers, policy
	if at, tick := d.cfg.monitorTimes(); at > 0 || tick > 0 {
		if at > 0 {
			mc.ActionTimeout = at
		}
		if tick > 0 {
			mc.TickInterval = tick
		}
	}
	mc.Logger = log
	mc.OnEvent = d.metrics.onEvent(d.pageEvents(reportEvents(ctx, mgr, log, d.events.Write)))
	mon, err := failover.NewMonitor(mc)
	if err != nil {
		return nil, fmt.Errorf("monitor %s: %w", name, err)
	}
	if spec.StallAfter <= mc.TickInterval {
		return nil, d.cfg.errAt(fmt.Sprintf("servers[%d].watchdog.stall_after", i),
			fmt.Sprintf("%v must be longer than the monitor's tick interval %v, or a live loop reads as stalled", spec.StallAfter, mc.TickInterval), nil)
	}
	m := &monitor{name: name, mon: mon, log: log, events: d.events, leases: leases}
	if inRack && spec.Kind == "ipmi-inband" {
		log.Warn("failoverd all: the in-band watchdog of a server is kicked by its own monitor; none is kicked here (use watchdog kind ipmi-lan)")
		return m, nil
	}
	wd, err := a.watchdog(i, spec)
	if err != nil {
		return nil, err
	}
	if wd != nil {
		spec.Updater.Logger = log
		alive := loopAlive(gate, mon, spec.StallAfter, time.Now)
		// Kicks only while the loop is alive, and (with leases) the lease.
		u, err := watchdog.NewUpdater(leases.gate(gatedWatchdog{Watchdog: wd, alive: alive}), spec.Updater)
		if err != nil {
			return nil, d.cfg.errAt(fmt.Sprintf("servers[%d].watchdog", i), "refused", err)
		}
		m.updater = u
	}
	return m, nil
}

// Run runs the monitor and the updater until ctx ends; a watchdog that
// cannot be armed stops the monitor with an error. With leases, both
// start once the lease is held, and the keeper stops (revoking the
// lease) only after the updater has declared and disarmed the watchdog.
func (m *monitor) Run(ctx context.Context) error {
	if m.leases != nil {
		stop, err := m.leases.start(ctx, m.log, leaseWaitLog)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while waiting
			}
			return fmt.Errorf("monitor %s: %w", m.name, err)
		}
		defer stop()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	monDone := make(chan error, 1)
	go func() { monDone <- m.mon.Run(ctx) }()
	var updDone chan error
	if m.updater != nil {
		updDone = make(chan error, 1)
		go func() { updDone <- m.updater.Run(ctx) }()
	}
	m.log.Info("failoverd: monitor running", "pid", os.Getpid())
	// Not on this goroutine: a stdout nobody reads must not hold the role.
	go m.events.Started(m.name)
	if m.updater == nil {
		return <-monDone
	}
	select {
	case err := <-monDone:
		cancel()
		<-updDone
		return err
	case err := <-updDone:
		cancel()
		merr := <-monDone
		if err != nil {
			return fmt.Errorf("monitor %s: %w", m.name, err)
		}
		return merr
	}
}
