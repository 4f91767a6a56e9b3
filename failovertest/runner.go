package failovertest

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
)

// simMonitor runs one server's engine the way failover.Monitor does, but
// on the simulation's timeline: each action is carried out by the
// monitor's own Executor when its simulated latency has passed, and its
// answer is fed back then, so many actions are under way at once.
type simMonitor struct {
	r           *Rack
	s           *Server
	engine      *failover.Engine
	x           *failover.Executor
	sw          *crashSwitch
	dead        bool
	crashAtStep bool
	nextTick    time.Time
}

// live returns m if it runs, else nil: a hung OS runs nothing.
func (m *simMonitor) live() *simMonitor {
	if m == nil || m.dead || m.sw.crashed || m.s.frozen || m.s.hung {
		return nil
	}
	return m
}

// restartMonitor starts a new monitor after a crash.
func (r *Rack) restartMonitor(s *Server) error {
	if err := r.newMonitor(s); err != nil {
		return err
	}
	if r.mut != mutSkipReconcile {
		s.mon.feed(failover.Input{Kind: failover.InputBoot})
	}
	r.leaseStart(s)
	return nil
}

// startMonitor starts a server's monitor at boot.
func (r *Rack) startMonitor(s *Server) error {
	if err := r.newMonitor(s); err != nil {
		return err
	}
	s.mon.feed(failover.Input{Kind: failover.InputBoot})
	r.leaseStart(s)
	return nil
}

func (r *Rack) newMonitor(s *Server) error {
	sw := &crashSwitch{}
	peers := map[string]hypervisor.Hypervisor{}
	for _, p := range r.Servers {
		if p != s {
			peers[p.Name] = crashHV{r: r, h: p.HV, sw: sw, viewer: s.Name, owner: p.Name}
		}
	}
	cfg := failover.Config{
		Server:     s.Name,
		Manager:    crashManager{r: r, sw: sw, from: s.Name},
		Store:      crashStore{r: r, sw: sw, from: s},
		Hypervisor: crashHV{r: r, h: s.HV, sw: sw, viewer: s.Name, owner: s.Name},
		Peers:      peers,
		Policy:     r.cfg.Policy,
		Clock:      r.Clock,
		Logger:     discardLogger,
	}
	if r.leasesOn() {
		cfg.Leases = simLeases{r: r, sw: sw, from: s}
	}
	e, err := failover.NewEngine(s.Name, r.cfg.Policy)
	if err != nil {
		return err
	}
	x, err := failover.NewExecutor(cfg)
	if err != nil {
		return err
	}
	if s.mon != nil {
		s.mon.dead = true
	}
	m := &simMonitor{r: r, s: s, engine: e, x: x, sw: sw}
	s.mon = m
	return nil
}

// feed steps the engine and dispatches what follows.
func (m *simMonitor) feed(in failover.Input) {
	r := m.r
	in.Time = r.Now()
	acts := slices.Clone(m.engine.Step(in))
	for _, a := range acts {
		if a.Kind == failover.ActionNotify {
			r.record(a.Event)
			continue
		}
		m.dispatch(a)
	}
	if next := m.engine.Next(); !next.IsZero() && (m.nextTick.IsZero() || next.Before(m.nextTick) || !m.nextTick.After(r.Now())) {
		m.nextTick = next
		r.at(next, func() {
			if m.live() != nil && !m.nextTick.After(r.Now()) {
				m.nextTick = time.Time{}
				m.feed(failover.Input{Kind: failover.InputTick})
			}
		})
	}
}

// dispatch schedules a's completion after its latency.
func (m *simMonitor) dispatch(a failover.Action) {
	r := m.r
	if r.mut == mutStartBeforeFence && a.Kind == failover.ActionFence {
		// The bug: the fence is taken as done at once; the power-off
		// itself goes out later.
		r.after(r.cfg.Latency.Power, func() { m.x.Do(context.Background(), a) })
		r.at(r.Now(), func() {
			if m.live() != nil {
				m.feed(failover.Input{Kind: failover.InputFenced, ID: a.ID})
			}
		})
		return
	}
	r.after(r.latency(a), func() {
		if m.live() == nil {
			return
		}
		in := m.x.Do(context.Background(), a)
		if m.sw.crashed {
			m.dead = true
			return
		}
		m.mutate(a, &in)
		m.feed(in)
	})
}

// mutate applies a deliberate bug to an answer (see mutation).
func (m *simMonitor) mutate(a failover.Action, in *failover.Input) {
	switch {
	case m.r.mut == mutIndeterminateConfirmed && a.Kind == failover.ActionFence && errors.Is(in.Err, bmc.ErrIndeterminate):
		in.Err = nil
	case m.r.mut == mutClaimIgnored && a.Kind == failover.ActionClaim && in.Err != nil:
		img := a.Image.Clone()
		img.Owner, img.Generation = m.s.Name, img.Generation+1
		in.Image, in.Err, in.Current = img, nil, nil
	case m.r.mut == mutCapacityIgnored && a.Kind == failover.ActionInventory:
		in.FreeKnown = false
	}
}

// latency is how long a takes, judged when it is sent.
func (r *Rack) latency(a failover.Action) time.Duration {
	lat := r.cfg.Latency
	switch a.Kind {
	case failover.ActionFence, failover.ActionRestart:
		if a.ByLease && a.Kind == failover.ActionFence {
			return lat.Store // a transaction in the lease store
		}
		s := r.byName[a.Server]
		on := s != nil && s.BMC != nil && s.powered
		if (a.Kind == failover.ActionFence && !on) || (a.Kind == failover.ActionRestart && a.Power == bmc.PowerActionOn && on) {
			return lat.PowerNoop
		}
		return lat.Power
	case failover.ActionCheckpoint:
		return lat.Checkpoint
	case failover.ActionStart:
		return lat.Start
	case failover.ActionProbe, failover.ActionVMState:
		return lat.Query
	}
	if r.storeSlow {
		return 50 * lat.Store
	}
	return lat.Store
}
