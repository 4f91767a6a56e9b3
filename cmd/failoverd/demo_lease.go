package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/rack"
)

// The lease scenarios: the monitors hold leases in an embedded etcd, and
// one server's BMC becomes unreachable with the server either gone
// (total-power-loss: its power and its monitor process with it) or
// running on, cut off from etcd (lease-partition: its monitor stops
// kicking when its lease runs out, and its watchdog powers it down). The
// watcher may take it over only TTL + watchdog timeout + drift margin
// after it saw the lease expire; the verdict checks that against the
// demo's own observation of the expiry in etcd.

// The lease scenarios' timing, short so that a run takes seconds.
const (
	demoLeaseTTL      = 2 * time.Second // etcd's least (1.5 election timeouts, rounded up)
	demoLeaseWatchdog = 3 * time.Second
	demoLeaseInterval = time.Second // kick call timeout 500ms
	demoLeaseStall    = 1500 * time.Millisecond
	demoLeaseMargin   = time.Second // ≥ 500ms + 0.1% of 5s
	demoLeaseBound    = demoLeaseTTL + demoLeaseWatchdog + demoLeaseMargin
	demoEtcdPrefix    = "/rackha/demo/"
)

// Scenarios of `failoverd demo -scenario`.
const (
	scenarioFour      = "four-failures"
	scenarioPowerLoss = "total-power-loss"
	scenarioPartition = "lease-partition"
)

var demoScenarios = []string{scenarioFour, scenarioPowerLoss, scenarioPartition}

// leases: the scenario runs with etcd leases.
func (d *demo) leases() bool { return d.scenario != scenarioFour }

// leaseTarget is the server that fails in a lease scenario.
func (d *demo) leaseTarget() string { return d.hw.names[0] }

// leaseYAML is the etcd and lease sections of the demo's config, with
// endpoint as the etcd endpoint.
func leaseYAML(endpoint string) string {
	return fmt.Sprintf("etcd:\n  endpoints: [%q]\n  prefix: %q\n  request_timeout: 1s\n  dial_timeout: 1s\nlease: {enabled: true, ttl: %v, drift_margin: %v}\n",
		endpoint, demoEtcdPrefix, demoLeaseTTL, demoLeaseMargin)
}

// startLeases starts the embedded etcd and returns the config's lease
// sections; for lease-partition it also writes the failing
// server's own copy of the config, which reaches etcd through a proxy the
// demo can cut.
func (d *demo) startLeases(certs certSet) (string, error) {
	e, err := startDemoEtcd(filepath.Join(d.dir, "etcd"), certs)
	if err != nil {
		return "", err
	}
	d.etcd = e
	if d.scenario == scenarioPartition {
		p, err := newCutProxy(strings.TrimPrefix(e.endpoint, "https://"))
		if err != nil {
			return "", err
		}
		d.proxy = p
	}
	return leaseYAML(e.endpoint), nil
}

// writeServerConfig writes server's copy of the config, with its etcd
// path through the proxy, when the scenario has one.
func (d *demo) writeServerConfig(text string) error {
	if d.proxy == nil {
		return nil
	}
	server := d.leaseTarget()
	own := strings.Replace(text, leaseYAML(d.etcd.endpoint), leaseYAML("https://"+d.proxy.addr()), 1)
	path := filepath.Join(d.dir, server+".yaml")
	if err := os.WriteFile(path, []byte(own), 0o600); err != nil {
		return err
	}
	if _, err := LoadConfig(path); err != nil {
		return fmt.Errorf("demo: its own config for %s: %w", server, err)
	}
	d.monitorCfg = map[string]string{server: path}
	return nil
}

// leaseFault is the lease scenario's one failure: it waits until the
// failed server's VMs run on its watcher, the server was powered on
// again and its monitor runs (and holds its lease) again.
func (d *demo) leaseFault(ctx context.Context) (*leaseRun, error) {
	server := d.leaseTarget()
	topo, err := rack.Ring(d.hw.names...)
	if err != nil {
		return nil, err
	}
	r := &leaseRun{server: server, watcher: topo.WatcherOf(server)}
	if r.owned, err = d.hw.owned(ctx, server); err != nil {
		return nil, err
	}
	key := demoEtcdPrefix + "lease/" + server
	cur, err := d.etcd.cli.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(cur.Kvs) == 0 {
		return nil, fmt.Errorf("demo: %s holds no lease before the fault (%s absent)", server, key)
	}
	wctx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	gone := d.etcd.watchGone(wctx, key, cur.Header.Revision)
	r.from = d.eventCount()
	b := d.hw.bmcs[server]
	kind := d.scenario
	d.log.mark(server, kind, r.owned)
	r.faultAt = time.Now()
	// Unreachable first: no poll may see the power go.
	b.SetUnreachable(true)
	switch d.scenario {
	case scenarioPowerLoss:
		b.LosePower() // its monitor process dies with it (followPower)
	case scenarioPartition:
		d.proxy.setCut(true) // the host runs on; its monitor cannot reach etcd
	}
	fctx, cancel := context.WithTimeout(ctx, demoFaultTimeout)
	defer cancel()
	select {
	case r.expiredAt = <-gone:
	case <-fctx.Done():
		return nil, fmt.Errorf("demo: the lease of %s did not expire in etcd", server)
	}
	d.log.note("demo", fmt.Sprintf("%s gone from etcd %v after the fault: %s may take %s over from %v on (TTL %v + watchdog %v + margin %v)",
		key, r.expiredAt.Sub(r.faultAt).Round(time.Millisecond), r.watcher, server, demoLeaseBound, demoLeaseTTL, demoLeaseWatchdog, demoLeaseMargin),
		map[string]any{"action": "lease-expired", "server": server, "fault_to_lease_expiry_ms": r.expiredAt.Sub(r.faultAt).Milliseconds()})
	// Once the takeover is recorded, mains (and the BMC, and the network)
	// come back; the server stays off until its watcher powers it on.
	err = d.log.wait(fctx, "no takeover by lease of "+server+" recorded", func(evs []demoEvent, _ map[string]int) bool {
		for _, e := range evs[min(r.from, len(evs)):] {
			if e.Ev.Server == server && e.Ev.Type == failover.EventFenced {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	r.offAt = d.poweredOff(server)
	b.SetUnreachable(false)
	if st, err := b.State(ctx); err == nil {
		r.watchdogExpired = st.Expired
	}
	switch d.scenario {
	case scenarioPowerLoss:
		b.RestorePower()
	case scenarioPartition:
		d.proxy.setCut(false)
	}
	d.log.note("demo", fmt.Sprintf("takeover of %s recorded; its BMC and etcd reachable again, the server off until its watcher powers it on", server),
		map[string]any{"action": "restore", "server": server})
	err = d.log.wait(fctx, fmt.Sprintf("%s on %s not handled", kind, server), func(evs []demoEvent, started map[string]int) bool {
		return takeoverDone(evs[min(r.from, len(evs)):], server, r.owned) && started[server] != 0 && d.monitorFresh(server, started)
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(6 * demoPoll)
	return r, nil
}

// leaseRun is what the lease scenario measured.
type leaseRun struct {
	server, watcher string
	owned           []string
	from            int       // events before the fault
	faultAt         time.Time // the fault
	expiredAt       time.Time // the demo saw the lease key deleted in etcd
	offAt           time.Time // the server's power went off (zero: not seen)
	watchdogExpired bool      // its watchdog read expired once the BMC answered again
}

// leaseVerdict checks the lease scenario: every VM of the failed server
// started once on its watcher, each at least the bound after the demo saw
// the lease expire; the watcher decided by lease (cause lease-expired,
// wait ≥ bound); in lease-partition the server's own watchdog powered it
// down before any backup started; every VM runs exactly once and none
// ever ran twice; no decision came from the rack manager.
func (d *demo) leaseVerdict(ctx context.Context, r *leaseRun) error {
	n, err := d.hw.check(ctx)
	evs, bad, werr := d.log.snapshot()
	fail := func(e error) error {
		d.log.note("result", "FAILED: "+e.Error(), map[string]any{"ok": false, "scenario": d.scenario})
		return e
	}
	switch {
	case err != nil:
		return fail(err)
	case len(bad) > 0:
		return fail(fmt.Errorf("%d lines from the processes did not decode, the first: %q", len(bad), bad[0]))
	case werr != nil:
		return fail(werr)
	}
	d.mu.Lock()
	rmPIDs := slices.Clone(d.rmPIDs)
	d.mu.Unlock()
	var detected *failover.Event
	starts := map[string][]time.Time{}
	pids := map[int]bool{}
	for _, e := range evs {
		pids[e.PID] = true
		if slices.Contains(rmPIDs, e.PID) {
			return fail(fmt.Errorf("event %v came from the rack manager (pid %d)", e.Ev, e.PID))
		}
	}
	for _, e := range evs[min(r.from, len(evs)):] {
		if e.Ev.Server != r.server {
			continue
		}
		switch {
		case e.Ev.Type == failover.EventDetected && detected == nil:
			ev := e.Ev
			detected = &ev
		case e.Ev.Type == failover.EventBackupStarted && e.Ev.Peer != r.server:
			starts[e.Ev.VM] = append(starts[e.Ev.VM], e.Ev.Time)
		}
	}
	if detected == nil || detected.Cause != failover.CauseLeaseExpired || detected.Peer != r.watcher {
		return fail(fmt.Errorf("the detection of %s: %v, want %s deciding with cause %s", r.server, detected, r.watcher, failover.CauseLeaseExpired))
	}
	if detected.Wait < demoLeaseBound {
		return fail(fmt.Errorf("the watcher waited %v after it saw the lease gone, less than the bound %v", detected.Wait, demoLeaseBound))
	}
	earliest := r.expiredAt.Add(demoLeaseBound)
	var first, last time.Time
	for _, vm := range r.owned {
		ts := starts[vm]
		switch {
		case len(ts) == 0:
			return fail(fmt.Errorf("%s never started on %s", vm, r.watcher))
		case len(ts) > 1:
			return fail(fmt.Errorf("%s started %d times on %s", vm, len(ts), r.watcher))
		case ts[0].Before(earliest):
			return fail(fmt.Errorf("%s started on %s %v after the lease expired, before the bound %v", vm, r.watcher, ts[0].Sub(r.expiredAt), demoLeaseBound))
		}
		if first.IsZero() || ts[0].Before(first) {
			first = ts[0]
		}
		if ts[0].After(last) {
			last = ts[0]
		}
	}
	if d.scenario == scenarioPartition {
		// The host ran on until its own watchdog powered it down, and
		// that was before any backup started.
		switch {
		case r.offAt.IsZero() || !r.watchdogExpired:
			return fail(fmt.Errorf("%s: powered off at %v, watchdog expired %v: want its watchdog to have powered it down", r.server, r.offAt, r.watchdogExpired))
		case !r.offAt.Before(first):
			return fail(fmt.Errorf("%s was powered off %v after the fault, not before the first backup started (%v)", r.server, r.offAt.Sub(r.faultAt), first.Sub(r.faultAt)))
		}
	}
	var list []int
	for p := range pids {
		list = append(list, p)
	}
	slices.Sort(list)
	ms := func(t time.Time) int64 { return t.Sub(r.faultAt).Milliseconds() }
	msg := fmt.Sprintf("%s of %s handled by lease: lease expired in etcd %v after the fault; %s waited %v ≥ bound %v (TTL %v + watchdog %v + margin %v) and started all %d VMs %v–%v after the fault (%v–%v after the expiry)",
		d.scenario, r.server, r.expiredAt.Sub(r.faultAt).Round(time.Millisecond), r.watcher, detected.Wait.Round(time.Millisecond), demoLeaseBound,
		demoLeaseTTL, demoLeaseWatchdog, demoLeaseMargin, len(r.owned), first.Sub(r.faultAt).Round(time.Millisecond), last.Sub(r.faultAt).Round(time.Millisecond),
		first.Sub(r.expiredAt).Round(time.Millisecond), last.Sub(r.expiredAt).Round(time.Millisecond))
	extra := map[string]any{"ok": true, "scenario": d.scenario, "server": r.server, "watcher": r.watcher, "vm_count": n, "events": len(evs),
		"monitor_pids": list, "rack_manager_pids": rmPIDs, "bound_ms": demoLeaseBound.Milliseconds(), "wait_ms": detected.Wait.Milliseconds(),
		"fault_to_lease_expiry_ms": ms(r.expiredAt), "fault_to_first_backup_ms": ms(first), "fault_to_backups_ms": []int64{ms(last)},
		"lease_expiry_to_first_backup_ms": first.Sub(r.expiredAt).Milliseconds()}
	if d.scenario == scenarioPartition {
		msg += fmt.Sprintf("; %s ran on until its watchdog powered it down %v after the fault", r.server, r.offAt.Sub(r.faultAt).Round(time.Millisecond))
		extra["fault_to_watchdog_off_ms"] = ms(r.offAt)
	}
	msg += fmt.Sprintf("; every one of the %d VMs runs exactly once, none ever ran twice; %d events by %d monitor processes, none by the rack manager", n, len(evs), len(list))
	d.log.header("\n")
	d.log.note("result", msg, extra)
	return nil
}
