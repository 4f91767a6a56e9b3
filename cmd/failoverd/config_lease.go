package main

import (
	"fmt"
	"time"

	"github.com/rackha/failover"
)

// defaultLeaseTTL: a server cut off from etcd stops kicking its watchdog
// within 10 s, and renewals every 3.3 s ride out an etcd leader election
// (about a second) with two to spare.
const defaultLeaseTTL = 10 * time.Second

// minLeaseTTL: etcd raises a shorter TTL to its own minimum (1.5 times
// its election timeout, 2 s at etcd's defaults).
const minLeaseTTL = 2 * time.Second

// clockTolerance is the clock-rate error the drift margin must cover, as
// a fraction: 1000 ppm, twice the most NTP slews a clock (500 ppm).
const clockTolerance = 1000

// leaseSpec is the lease section as a monitor uses it.
type leaseSpec struct {
	Enabled     bool
	TTL         time.Duration
	DriftMargin time.Duration
}

// leaseSpec checks the lease section. The bound a watcher waits is
// TTL + watchdog timeout + drift margin after it saw the lease gone
// (lease.go of the library). Its safety needs no order between TTL and
// the watchdog timeout; it needs the margin to cover what the host may
// still do after its lease ended by its own clock: a kick sent just
// before, which reaches the BMC up to the kick's call timeout later
// (watchdog interval/2) and restarts the countdown, and the clocks' rate
// error over TTL + timeout. So, for every server:
//
//	drift_margin ≥ watchdog.interval/2 + (ttl + watchdog.timeout)/1000
func (c *Config) leaseSpec() (leaseSpec, error) {
	l := c.Lease
	s := leaseSpec{Enabled: l.Enabled, TTL: defaultLeaseTTL}
	v := &checker{file: c.File, root: c.pos.root}
	v.duration("lease.ttl", l.TTL, &s.TTL)
	var margin time.Duration
	v.duration("lease.drift_margin", l.DriftMargin, &margin)
	if v.err != nil {
		return s, v.err
	}
	if !l.Enabled {
		return s, nil
	}
	if !c.Etcd.used() {
		return s, c.errAt("lease.enabled", "needs the etcd section: the leases live in etcd", nil)
	}
	if s.TTL < minLeaseTTL || s.TTL%time.Second != 0 {
		return s, c.errAt("lease.ttl", fmt.Sprintf("%v: want whole seconds, at least %v (etcd grants leases in seconds, and raises shorter ones to its minimum)", s.TTL, minLeaseTTL), nil)
	}
	need, at := time.Duration(0), -1
	for i, srv := range c.Servers {
		w, err := c.watchdogSpec(i, placeholderSecret)
		if err != nil {
			return s, err
		}
		if w.Kind == "none" {
			return s, c.errAt(fmt.Sprintf("servers[%d].watchdog.kind", i), fmt.Sprintf("none: with lease.enabled every server needs a watchdog that stops it when its lease ends (%s has none)", srv.Name), nil)
		}
		n := w.Updater.CallTimeout + (s.TTL+w.Updater.Timeout)/clockTolerance
		n = (n + time.Millisecond - 1).Truncate(time.Millisecond)
		if n > need {
			need, at = n, i
		}
	}
	switch {
	case l.DriftMargin == "":
		s.DriftMargin = max(failover.DefaultPolicy().LeaseDriftMargin, need)
	case margin < need:
		shown := l.DriftMargin
		w, _ := c.watchdogSpec(at, placeholderSecret)
		return s, c.errAt("lease.drift_margin", fmt.Sprintf("%s is shorter than %v: servers[%d]'s kick call timeout %v (watchdog interval/2) + 0.1%% of ttl %v + watchdog timeout %v; a kick sent just before its lease ends may reach its BMC that much later",
			shown, need, at, w.Updater.CallTimeout, s.TTL, w.Updater.Timeout), nil)
	default:
		s.DriftMargin = margin
	}
	return s, nil
}

// leaseBound is the longest a watcher waits, after it saw server i's
// lease gone, before it takes the server over by lease.
func (s leaseSpec) bound(w watchdogSpec) time.Duration {
	return s.TTL + w.Updater.Timeout + s.DriftMargin
}
