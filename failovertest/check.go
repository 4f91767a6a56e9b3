package failovertest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rackha/failover"
)

// ErrInvariant marks a broken invariant.
var ErrInvariant = errors.New("failovertest: invariant broken")

// bound is how long after a real failure every VM of the failed server
// must run elsewhere: debounce plus two polls, the fence retries, the
// power operations and each VM's checkpoint and start, the watchdog
// timeout for a hung OS, the evacuation timeout for a degraded server,
// plus the time disturbances (unreachable BMC, failing fences, monitor
// crashes) near the failure add.
func (r *Rack) bound(f *injected) time.Duration {
	at := f.at
	p := r.cfg.Policy
	b := time.Duration(p.DebouncePolls+2)*r.cfg.PollInterval + time.Duration(p.FenceAttempts)*p.RetryInterval
	lat := r.cfg.Latency
	b += 2*lat.Power + time.Duration(len(f.vms))*(lat.Start+lat.Checkpoint)
	switch f.Kind {
	case HangOS:
		b += r.cfg.WatchdogTimeout
	case VoltageSag, Overheat:
		b += p.EvacuationTimeout
	}
	b += time.Duration(p.FenceAttempts)*lat.Power + time.Duration(p.StartAttempts)*p.RetryInterval
	watcher := r.Topology.WatcherOf(f.Server)
	for _, d := range r.faults {
		if d.Kind.Real() || (d.Server != f.Server && d.Server != watcher) {
			continue
		}
		if d.at.Before(at.Add(-10*r.cfg.PollInterval)) || d.at.After(at.Add(b)) {
			continue
		}
		b += d.For + time.Duration(p.DebouncePolls+2)*r.cfg.PollInterval
	}
	return b
}

// Check returns every broken invariant so far, wrapped in ErrInvariant, or
// nil:
//
//	(a) no protected VM ever ran on two servers at once (checked after
//	    every start and every step);
//	(b) after each real failure, every VM the failed server owned runs on
//	    another server (or an event says it started there) within Bound,
//	    or an alert names it;
//	(c) no server was judged failed without a real failure (noise shorter
//	    than the debounce never causes a takeover).
//
// (b) is judged at every step until it holds or the bound passes.
func (r *Rack) Check() error {
	if len(r.violations) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  %s", ErrInvariant, strings.Join(r.violations, "\n  "))
}

// judgeDue checks (b) at every step: a real failure is settled at the
// first step where each of its VMs runs elsewhere or is named in an alert,
// and broken if its bound passes first.
func (r *Rack) judgeDue() {
	now := r.Now()
	for _, f := range r.faults {
		if !f.Kind.Real() || f.judged {
			continue
		}
		bound := r.bound(f)
		var missing []string
		for _, vm := range f.vms {
			if !r.handled(f, vm, bound) {
				missing = append(missing, vm)
			}
		}
		switch {
		case len(missing) == 0:
			f.judged = true
		case !now.Before(f.at.Add(bound)):
			f.judged = true
			r.violate("%s on %s at %v: VMs %s neither running elsewhere within %v nor named in an alert",
				f.Kind, f.Server, r.since(f.at), strings.Join(missing, ", "), bound)
		}
	}
}

func (r *Rack) handled(f *injected, vm string, bound time.Duration) bool {
	for _, on := range r.Storage.Running(vm) {
		if on != f.Server {
			return true
		}
	}
	for _, ev := range r.events {
		if ev.VM != vm || ev.Time.Before(f.at) {
			continue
		}
		switch ev.Type {
		case failover.EventAlert:
			if ev.Server == f.Server {
				return true
			}
		case failover.EventBackupStarted, failover.EventReconciled:
			if ev.Peer != f.Server && !ev.Time.After(f.at.Add(bound)) {
				return true
			}
		}
	}
	return false
}
