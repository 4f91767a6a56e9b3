package failovertest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/imagestore"
)

// ErrInvariant marks a broken invariant.
var ErrInvariant = errors.New("failovertest: invariant broken")

// bound is how long after a real failure every VM of the failed server
// must run elsewhere: debounce plus two polls, the fence retries, the
// power operations and each VM's checkpoint and start, the watchdog
// timeout for a hung OS, the evacuation timeout for a degraded server,
// plus the time disturbances (unreachable BMC, failing fences, monitor
// crashes) near the failure add.
func (r *Rack) bound(f *injected) time.Duration { return r.boundOf(f, false) }

func (r *Rack) boundOf(f *injected, nested bool) time.Duration {
	at := f.at
	p := r.cfg.Policy
	b := time.Duration(p.DebouncePolls+2)*r.cfg.PollInterval + time.Duration(p.FenceAttempts)*p.RetryInterval
	lat := r.cfg.Latency
	b += 2*lat.Power + time.Duration(len(f.vms))*(lat.Start+lat.Checkpoint) + p.FenceSettle
	b += time.Duration(p.StartAttempts) * (2*lat.Query + 2*lat.Store) * 50
	if f.Kind == LyingBMC {
		b += f.Lag
	}
	switch f.Kind {
	case HangOS:
		b += r.cfg.WatchdogTimeout
	case VoltageSag, Overheat:
		b += p.EvacuationTimeout
	case LeaseCut:
		// The lease ends, then the watchdog; a restarted host waits for
		// the cut to end before it takes a lease again.
		b += r.cfg.LeaseTTL + r.cfg.WatchdogTimeout + f.For
	case TotalPowerLoss, Isolated:
		// The watcher sees the lease gone up to a TTL after the host's
		// last renewal, waits TTL + watchdog + margin, and for an
		// isolated host the watchdog first has to fire.
		b += 2*r.cfg.LeaseTTL + r.cfg.WatchdogTimeout + p.LeaseDriftMargin + time.Duration(p.UnreachableAlertPolls+2)*r.cfg.PollInterval
		if f.Kind == Isolated {
			b += r.cfg.LeaseTTL + r.cfg.WatchdogTimeout
		}
	}
	b += time.Duration(p.FenceAttempts)*lat.Power + time.Duration(p.StartAttempts)*p.RetryInterval
	watcher := r.Topology.WatcherOf(f.Server)
	rackWide := func(k FaultKind) bool { return k == ManagerCrash || k == StoreSlow || k == StoreDown }
	for _, d := range r.faults {
		if d == f || d.at.Before(at.Add(-10*r.cfg.PollInterval)) || d.at.After(at.Add(b)) {
			continue
		}
		switch {
		case nested:
		case d.Kind.Real() && d.Server == watcher:
			// The watcher failed too: the rack manager hands the server
			// over to the next live one, which may itself be busy.
			b += r.Manager.Config().HandoverAfter + r.boundOf(d, true)
		case d.Kind.Real():
		case d.Server == f.Server || d.Server == watcher || d.Watcher == watcher || rackWide(d.Kind):
			b += d.For + time.Duration(p.DebouncePolls+2)*r.cfg.PollInterval
		}
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
//	(c) no healthy server is taken over: the workload's noise (spikes of
//	    a poll or two, rare three-poll glitches, slow drift) never causes
//	    a detection;
//	(d) a memory checkpoint is resumed at most once, and never after the
//	    VM has run again since it was taken;
//	(e) when a takeover runs short of capacity, the VMs left out have no
//	    higher priority than those taken over (unless other starts
//	    competed for the same server meanwhile).
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
			r.checkPriority(f)
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
		if (ev.VM != vm && !slices.Contains(ev.VMs, vm)) || ev.Time.Before(f.at) {
			continue
		}
		switch ev.Type {
		case failover.EventAlert:
			// With a lease store, a server whose BMC died is taken over,
			// not merely named at risk.
			if (f.Kind == TotalPowerLoss || f.Kind == Isolated) && strings.Contains(ev.Message, "at risk") {
				continue
			}
			// About this failure, or about a second failed server the VM
			// had been moved to meanwhile.
			if ev.Server == f.Server || slices.Contains(ev.VMs, vm) || r.realFaultActive(ev.Server, ev.Time) {
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

// beforeStart checks invariant (d) as a start is asked, and records the
// attempt for (e).
func (r *Rack) beforeStart(on string, img imagestore.Image) {
	r.startsOn[on] = append(r.startsOn[on], startRec{vm: img.Name, at: r.Now()})
	ref := img.Checkpoint
	if ref == "" {
		return
	}
	if taken, ok := r.ckptAt[ref]; ok && r.startedAt[img.Name].After(taken) {
		r.violate("checkpoint %s of %s (taken at %v) resumed on %s after the VM ran again at %v",
			ref, img.Name, r.since(taken), on, r.since(r.startedAt[img.Name]))
	}
}

// started records a start that succeeded, and checks that a checkpoint
// is resumed once.
func (r *Rack) started(on string, img imagestore.Image) {
	r.startedAt[img.Name] = r.Now()
	if ref := img.Checkpoint; ref != "" {
		if r.resumed[ref] {
			r.violate("checkpoint %s of %s resumed a second time, on %s", ref, img.Name, on)
		}
		r.resumed[ref] = true
	}
}

// checkPriority is invariant (e) for a settled failure.
func (r *Rack) checkPriority(f *injected) {
	prio := map[string]int{}
	for _, img := range r.storeImages() {
		prio[img.Name] = img.Priority
	}
	var outOf []string
	on := ""
	for _, vm := range f.vms {
		if cap := r.capacityAlert(f, vm); cap {
			outOf = append(outOf, vm)
			continue
		}
		for _, s := range r.Storage.Running(vm) {
			if s != f.Server {
				on = s
			}
		}
	}
	if len(outOf) == 0 || on == "" {
		return
	}
	mine := map[string]bool{}
	for _, vm := range f.vms {
		mine[vm] = true
	}
	for _, st := range r.startsOn[on] {
		if !st.at.Before(f.at) && !mine[st.vm] {
			return // other starts competed for the same server
		}
	}
	for _, d := range r.faults {
		if d.Kind == MonitorCrash && d.Server == on && !d.at.Before(f.at) {
			return // a crash mid-takeover: what it had claimed comes first
		}
	}
	for _, vm := range f.vms {
		if slices.Contains(outOf, vm) || !slices.Contains(r.Storage.Running(vm), on) {
			continue
		}
		for _, left := range outOf {
			if prio[left] > prio[vm] {
				r.violate("%s on %s: %s (priority %d) left out for lack of capacity while %s (priority %d) runs on %s",
					f.Kind, f.Server, left, prio[left], vm, prio[vm], on)
			}
		}
	}
}

// capacityAlert reports whether an alert of f's takeover says vm was left
// out for lack of capacity.
func (r *Rack) capacityAlert(f *injected, vm string) bool {
	for _, ev := range r.events {
		if ev.Type == failover.EventAlert && ev.VM == vm && ev.Server == f.Server && !ev.Time.Before(f.at) &&
			(strings.Contains(ev.Message, "not taken over: needs") || strings.Contains(ev.Message, "not enough capacity")) {
			return true
		}
	}
	return false
}
