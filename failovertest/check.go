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

// Bound is how long after a real failure every VM of the failed server
// must run elsewhere: debounce plus two polls, the fence retries, the
// watchdog timeout for a hung OS, the evacuation timeout for a degraded
// server, plus the time disturbances (unreachable BMC, failing fences,
// monitor crashes) near the failure add.
func (r *Rack) Bound(f Fault, at time.Time) time.Duration {
	p := r.cfg.Policy
	b := time.Duration(p.DebouncePolls+2)*r.cfg.PollInterval + time.Duration(p.FenceAttempts)*p.RetryInterval
	switch f.Kind {
	case HangOS:
		b += r.cfg.WatchdogTimeout
	case VoltageSag, Overheat:
		b += p.EvacuationTimeout
	}
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
//	    another server within Bound, or an alert names it;
//	(c) no server was judged failed without a real failure (noise shorter
//	    than the debounce never causes a takeover).
//
// A failure whose bound has not yet passed is not judged for (b).
func (r *Rack) Check() error {
	v := append([]string(nil), r.violations...)
	now := r.Now()
	for _, f := range r.faults {
		if !f.Kind.Real() {
			continue
		}
		bound := r.Bound(f.Fault, f.at)
		if now.Before(f.at.Add(bound)) {
			continue
		}
		for _, vm := range f.vms {
			if !r.handled(f, vm, bound) {
				v = append(v, fmt.Sprintf("t=%v: %s on %s: VM %s neither running elsewhere within %v nor named in an alert",
					r.since(f.at), f.Kind, f.Server, vm, bound))
			}
		}
	}
	if len(v) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  %s", ErrInvariant, strings.Join(v, "\n  "))
}

func (r *Rack) handled(f *injected, vm string, bound time.Duration) bool {
	for _, ev := range r.events {
		if ev.VM != vm || ev.Server != f.Server || ev.Time.Before(f.at) {
			continue
		}
		switch ev.Type {
		case failover.EventAlert:
			return true
		case failover.EventBackupStarted:
			if ev.Peer != f.Server && !ev.Time.After(f.at.Add(bound)) {
				return true
			}
		}
	}
	return false
}
