package failovertest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/watchdog"
)

// The lease store, as etcd with lease/etcdlease behaves (Config.LeaseTTL).
// Each host's keeper, part of its OS, renews its lease at every poll while
// it reaches the store; the host kicks its watchdog only while its lease
// is alive by its own clock (the send time of the last answered renewal
// plus the TTL, on a clock whose rate is off by up to Config.ClockDrift),
// and starts its monitor and arms its watchdog only once it holds a lease.
// A new lease is refused while a takeover by lease is recorded; a
// takeover is refused while the lease is held. Monitors get a report of
// every lease when they start and on each change, and the journal of
// watchdogs they saw is fed back when they restart.

// leaseState is one server's lease in the store and on its host.
type leaseState struct {
	until    time.Time // the store's expiry; zero: no lease
	takenBy  string    // a takeover by lease recorded by this watcher
	alive    time.Time // the host's own view: kick before this (real time)
	cuts     int       // open faults that cut the host from the store
	rate     float64   // the host's clock rate against real time
	inFlight bool      // a renewal is under way
}

// leasesOn reports whether the rack has a lease store.
func (r *Rack) leasesOn() bool { return r.cfg.LeaseTTL > 0 }

// leaseAlive reports whether s may kick its watchdog now.
func (s *Server) leaseAlive() bool {
	return !s.r.leasesOn() || s.r.mut == mutLeaseUngated || s.r.Now().Before(s.lease.alive)
}

// renew sends s's renewal (or its request for a new lease) to the store.
func (r *Rack) renew(s *Server) {
	ls := &s.lease
	if !s.up || s.hung || ls.cuts > 0 || ls.inFlight {
		return
	}
	ls.inFlight = true
	sent := r.Now()
	r.after(r.cfg.Latency.Store, func() {
		granted := r.grant(s)
		r.after(r.cfg.Latency.Store, func() {
			ls.inFlight = false
			if !granted || ls.cuts > 0 || !s.up {
				return // refused, or the answer is lost
			}
			local := time.Duration(float64(r.cfg.LeaseTTL) / ls.rate)
			if a := sent.Add(local); a.After(ls.alive) {
				ls.alive = a
			}
			s.leaseHeld()
		})
	})
}

// grant is the store's side of a renewal: extend a live lease, or grant a
// new one unless a takeover is recorded.
func (r *Rack) grant(s *Server) bool {
	ls := &s.lease
	now := r.Now()
	if now.Before(ls.until) {
		ls.until = now.Add(r.cfg.LeaseTTL)
		r.expireAt(s, ls.until)
		return true
	}
	if ls.takenBy != "" {
		return false
	}
	ls.until = now.Add(r.cfg.LeaseTTL)
	r.expireAt(s, ls.until)
	r.reportLease(s)
	return true
}

// expireAt ends s's lease in the store at until, unless renewed since.
func (r *Rack) expireAt(s *Server, until time.Time) {
	r.at(until, func() {
		if s.lease.until.Equal(until) && !r.Now().Before(until) {
			s.lease.until = time.Time{}
			r.reportLease(s)
		}
	})
}

// leaseOf is what the store says of s's lease now.
func (r *Rack) leaseOf(s *Server) failover.Lease {
	return failover.Lease{Server: s.Name, Held: r.Now().Before(s.lease.until), TTL: r.cfg.LeaseTTL}
}

// reportLease tells every live monitor but s's own, one store latency
// later, what the store says of s's lease then.
func (r *Rack) reportLease(s *Server) {
	r.after(r.cfg.Latency.Store, func() {
		l := r.leaseOf(s)
		for _, w := range r.Servers {
			if m := w.mon.live(); m != nil && w != s {
				m.feed(failover.Input{Kind: failover.InputLease, Lease: l})
			}
		}
	})
}

// leaseHeld starts what waited for s's first lease since it booted: its
// watchdog and its monitor, which reconciles.
func (s *Server) leaseHeld() {
	if s.armed || !s.up || s.hung {
		return
	}
	if err := s.BMC.InBand().Arm(context.Background(), s.r.cfg.WatchdogTimeout, watchdog.ActionPowerDown); err != nil {
		s.r.violate("arm watchdog of %s: %v", s.Name, err)
		return
	}
	s.armed = true
	s.recovered()
	if err := s.r.startMonitor(s); err != nil {
		s.r.violate("start monitor of %s: %v", s.Name, err)
	}
}

// leaseStart feeds a new monitor of s the store's view of every other
// lease and the watchdogs it journaled, as a Watch and LoadWatchdogs do.
func (r *Rack) leaseStart(s *Server) {
	if !r.leasesOn() {
		return
	}
	m := s.mon
	seen := r.journal[s.Name]
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		m.feed(failover.Input{Kind: failover.InputWatchdogSeen, Server: name, Watchdog: seen[name]})
	}
	for _, p := range r.Servers {
		if p != s {
			m.feed(failover.Input{Kind: failover.InputLease, Lease: r.leaseOf(p)})
		}
	}
}

// journalWatchdog keeps what a watcher saw of a peer's watchdog.
func (r *Rack) journalWatchdog(ev failover.Event) {
	if r.journal[ev.Peer] == nil {
		r.journal[ev.Peer] = map[string]watchdog.State{}
	}
	r.journal[ev.Peer][ev.Server] = watchdog.State{Running: ev.WatchdogAction != watchdog.ActionNone,
		Action: ev.WatchdogAction, Timeout: ev.WatchdogTimeout}
}

// simLeases is the lease store as one monitor's Executor reaches it.
type simLeases struct {
	r    *Rack
	sw   *crashSwitch
	from *Server
}

func (l simLeases) Watch(context.Context, string) (<-chan failover.Lease, error) {
	return nil, fmt.Errorf("failovertest: leases are fed by the rack")
}

func (l simLeases) Takeover(_ context.Context, server, watcher string) error {
	if err := l.sw.before(); err != nil {
		return err
	}
	defer l.sw.after()
	if l.r.storeDown || l.from.isolated {
		return errStoreDown
	}
	s := l.r.byName[server]
	if s == nil {
		return fmt.Errorf("failovertest: takeover of unknown server %q", server)
	}
	if l.r.Now().Before(s.lease.until) {
		return fmt.Errorf("%w: %s", failover.ErrLeaseHeld, server)
	}
	if s.lease.takenBy != "" && s.lease.takenBy != watcher {
		return fmt.Errorf("failovertest: %s already taken over by %s", server, s.lease.takenBy)
	}
	s.lease.takenBy = watcher
	return nil
}

func (l simLeases) Release(_ context.Context, server, watcher string) error {
	if err := l.sw.before(); err != nil {
		return err
	}
	defer l.sw.after()
	if l.r.storeDown || l.from.isolated {
		return errStoreDown
	}
	if s := l.r.byName[server]; s != nil && s.lease.takenBy == watcher {
		s.lease.takenBy = ""
	}
	return nil
}
