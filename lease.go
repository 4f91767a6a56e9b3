package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/rackha/failover/watchdog"
)

// A takeover by lease: when a server loses all power its BMC usually goes
// with it, no fence can be confirmed, and a plain watcher must leave its
// VMs down. With a lease store (etcd) each monitor holds a lease and its
// watchdog updater kicks the BMC watchdog only while that lease is alive
// by the host's own clock, so a host cut off from the store, hung or dead
// stops kicking, and its watchdog powers it off or resets it. A watcher may
// then take the server over without a fence, when all of these hold:
//
//   - the BMC is unreachable (Policy.UnreachableAlertPolls full polls in a
//     row, none further apart than Policy.MaxStatusGap, the last within
//     it) while statuses still come (the rack manager is up);
//   - the lease store reports the server's lease gone (InputLease), and it
//     has not declared its watchdog disarmed (a clean stop);
//   - the last full status that reached the BMC showed its watchdog
//     running, not expired, with a hard-reset, power-down or power-cycle
//     action (kept across watcher restarts by journaling EventWatchdogSeen
//     and feeding it back as InputWatchdogSeen);
//   - on the watcher's monotonic clock, since it first saw the lease gone:
//
//     wait ≥ lease TTL + watchdog timeout + Policy.LeaseDriftMargin
//
// Why that is enough: the host stops kicking no later than its lease's end
// by its own clock (the send time of its last renewal that was answered,
// plus the TTL), which is no later than the store's expiry; its watchdog
// then fires within one timeout of the last kick. The watcher sees the
// expiry at or after it happens. So TTL + timeout after the watcher saw
// it, the host is off; the TTL counted again covers a store that extends
// leases (etcd does on a leader change) and a renewal answered late, and
// the margin covers clock rates and a kick delayed by a busy host.
//
// It assumes: the watchdog hardware works and keeps counting while the
// host is cut off; the hypervisor does not autostart VMs after a reset
// (the monitor reconciles instead); clocks run within the margin; and the
// lease store refuses a host's new lease while a takeover is recorded
// (the fence by lease, Leases.Takeover, is a transaction on the lease's
// absence, so a host that comes back at the last moment either holds its
// lease first, and the takeover is refused, or finds the takeover and
// waits for its release). Unreachable alone, or a lease gone alone, is
// never enough.
//
// What it costs: a host that cannot renew its lease for longer than the
// TTL stops kicking and is reset by its watchdog, even if it was healthy.
// An outage of the whole lease store longer than the TTL therefore resets
// every host of the rack, as a lost shared disk does under sbd. Run the
// store as a cluster (three or five etcd members) and choose a TTL longer
// than the outages it must ride out; the takeover then waits that much
// longer after a real total power loss.

// Lease is what the lease store says of a watched server's lease.
type Lease struct {
	Server string
	// Held: the server holds a live lease. False: it expired, was
	// revoked, or was never taken since the store was read.
	Held bool
	// TTL the lease was granted with; 0 when the store does not say (the
	// engine keeps the last TTL it was told).
	TTL time.Duration
	// Disarmed: the server declared its watchdog disarmed (a clean stop
	// of its monitor) and has not declared it armed since. A server that
	// cannot reach the store does not disarm.
	Disarmed bool
}

// Leases is the lease store as a watcher uses it. Monitor calls every
// method from several goroutines.
type Leases interface {
	// Watch reports the leases of the servers watcher watches: one Lease
	// for each when it (re)connects to the store, and one on each change,
	// until ctx ends.
	Watch(ctx context.Context, watcher string) (<-chan Lease, error)
	// Takeover records that watcher takes server over by lease, only if
	// server holds no lease (ErrLeaseHeld if it does); while recorded, the
	// server cannot take a lease. A call whose answer was lost resolves
	// by reading back, or wraps ErrOutcomeUnknown.
	Takeover(ctx context.Context, server, watcher string) error
	// Release removes watcher's takeover record of server, so it may take
	// a lease again. Removing a record that is not there is not an error.
	Release(ctx context.Context, server, watcher string) error
}

// WatchdogJournal is an optional interface of Leases: it keeps what a
// watcher last saw of each peer's watchdog, so that a watcher restarted
// after a server's BMC died still knows. Without it a restarted watcher
// knows nothing and takes no server over by lease until it has read that
// server's watchdog again.
type WatchdogJournal interface {
	SaveWatchdog(ctx context.Context, watcher, server string, st watchdog.State) error
	LoadWatchdogs(ctx context.Context, watcher string) (map[string]watchdog.State, error)
}

// leaseView is the engine's view of a watched server's lease.
type leaseView struct {
	known    bool
	held     bool
	disarmed bool
	ttl      time.Duration
	goneAt   time.Time // when first reported not held; zero while held
}

// watchdogSeen is what the last full status that reached a server's BMC
// showed of its watchdog.
type watchdogSeen struct {
	action  watchdog.Action // ActionNone when not armed
	timeout time.Duration
	// fromStatus: seen in a status since the engine started (a journaled
	// one fed back is older, and ignored then).
	fromStatus bool
}

// stopsHost reports whether the watchdog, as seen, would stop the host.
func (w watchdogSeen) stopsHost() bool { return w.action != watchdog.ActionNone && w.timeout > 0 }

// seenOf reduces a watchdog's state to what a takeover by lease needs.
func seenOf(known bool, st watchdog.State) watchdogSeen {
	if !known || !st.Running || st.Expired || st.Timeout <= 0 || st.Action == watchdog.ActionNone || st.Action > watchdog.ActionPowerCycle {
		return watchdogSeen{}
	}
	return watchdogSeen{action: st.Action, timeout: st.Timeout}
}

// sawWatchdog notes the watchdog of a full status that reached the BMC,
// and reports a change as EventWatchdogSeen for the runner's journal.
func (e *Engine) sawWatchdog(now time.Time, ps *peerState, known bool, st watchdog.State) {
	w := seenOf(known, st)
	w.fromStatus = true
	old := ps.wd
	ps.wd = w
	if old.action == w.action && old.timeout == w.timeout {
		return
	}
	msg := "watchdog not armed to stop the host: no takeover by lease"
	if w.stopsHost() {
		msg = "watchdog armed: " + w.action.String() + " after " + w.timeout.String()
	}
	e.notify(now, ps, Event{Type: EventWatchdogSeen, Cause: CauseNone, WatchdogAction: w.action, WatchdogTimeout: w.timeout, Message: msg})
}

// restoreWatchdog takes a journaled watchdog, unless a status came since.
func (e *Engine) restoreWatchdog(in Input) {
	if in.Server == "" || in.Server == e.self {
		return
	}
	ps := e.peer(in.Server)
	if ps.wd.fromStatus {
		return
	}
	ps.wd = seenOf(true, in.Watchdog)
}

// lease takes a report of the lease store.
func (e *Engine) lease(now time.Time, l Lease) {
	if l.Server == "" || l.Server == e.self {
		return
	}
	ps := e.peer(l.Server)
	lv := &ps.lease
	lv.known, lv.disarmed = true, l.Disarmed
	if l.TTL > 0 {
		lv.ttl = l.TTL
	}
	if l.Held {
		lv.held, lv.goneAt = true, time.Time{}
		return
	}
	if lv.held || lv.goneAt.IsZero() {
		lv.goneAt = now
	}
	lv.held = false
}

// leaseBound is how long after its lease was seen gone a server may be
// taken over by lease, and whether it may be at all.
func (e *Engine) leaseBound(ps *peerState) (time.Duration, bool) {
	lv := &ps.lease
	if !lv.known || lv.held || lv.goneAt.IsZero() || lv.ttl <= 0 || lv.disarmed || !ps.wd.stopsHost() {
		return 0, false
	}
	return lv.ttl + ps.wd.timeout + e.p.LeaseDriftMargin, true
}

// leaseWatched reports whether ps is watched with its BMC unreachable
// while statuses come: the state a takeover by lease starts from.
func (e *Engine) leaseWatched(ps *peerState) bool {
	return ps.phase == PhaseWatching && !e.statusLost && ps.unreachable >= e.p.UnreachableAlertPolls
}

// leaseDue returns when a tick would take ps over by lease, or zero when
// none can: then only a status can (the BMC must have been seen
// unreachable within Policy.MaxStatusGap of the takeover).
func (e *Engine) leaseDue(ps *peerState) time.Time {
	bound, ok := e.leaseBound(ps)
	if !ok || !e.leaseWatched(ps) {
		return time.Time{}
	}
	due := ps.lease.goneAt.Add(bound)
	if due.Sub(ps.lastFull) > e.p.MaxStatusGap {
		return time.Time{}
	}
	return due
}

// leaseCheck takes ps over by lease once every condition holds.
func (e *Engine) leaseCheck(now time.Time, ps *peerState) {
	bound, ok := e.leaseBound(ps)
	if !ok || !e.leaseWatched(ps) || now.Sub(ps.lastFull) > e.p.MaxStatusGap || now.Before(ps.lease.goneAt.Add(bound)) {
		return
	}
	waited := now.Sub(ps.lease.goneAt)
	e.resetTakeover(now, ps, CauseLeaseExpired)
	ps.byLease = true
	e.notify(now, ps, Event{Type: EventDetected, Wait: waited,
		Message: fmt.Sprintf("BMC unreachable for %d polls and lease gone for %v ≥ lease TTL %v + watchdog %v (%s) + drift margin %v = %v: its own watchdog has stopped it",
			ps.unreachable, waited, ps.lease.ttl, ps.wd.timeout, ps.wd.action, e.p.LeaseDriftMargin, bound)})
	ps.phase = PhaseInventory
	e.act(Action{Kind: ActionInventory, Server: ps.name}, pending{server: ps.name})
}
