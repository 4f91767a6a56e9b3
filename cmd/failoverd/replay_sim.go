package main

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/clock"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/telemetry"
)

// replayLatency is how long each simulated operation takes; every one
// succeeds.
type replayLatency struct {
	Power      time.Duration // fence and restart, read-back included
	Start      time.Duration // a VM start on the watcher
	Checkpoint time.Duration // a VM checkpoint on the degraded server
	Op         time.Duration // store reads and writes, hypervisor queries
}

// replaySetup is one replay: the recorded servers in topology order,
// and what the simulation assumes.
type replaySetup struct {
	Servers  []string
	Records  map[string][]rack.Status // by server, in time order
	Topology string                   // "ring" or "pairs"
	VMs      int                      // per server
	Latency  replayLatency
	Tick     time.Duration // the monitor's tick, in recorded time
	After    time.Duration // how long past the last record actions still complete
}

// replaySim runs one engine per recorded server over the recordings on
// the recorded clock: statuses come at their recorded times, actions
// complete after their simulated latency, and time jumps from one to the
// next (nothing sleeps). Not safe for concurrent use.
type replaySim struct {
	setup   replaySetup
	policy  failover.Policy
	topo    rack.Topology
	clock   *clock.Manual
	store   *memstore.Store
	servers map[string]*replayServer
	queue   eventQueue
	seq     int
	events  []failover.Event
	onEvent func(failover.Event)
	// onFault, when set, is told when a server's recording starts to
	// read failed (not while superseded).
	onFault func(server, fault string, vms []string)
	err     error
}

// replayServer is one recorded server: its simulated power and
// hypervisor, and the monitor (engine) it runs while powered.
type replayServer struct {
	name    string
	powered bool
	// superseded: the server was fenced in the simulation, so its
	// recording no longer says what it does; statuses are synthesized
	// until the recording reads healthy while the server is on.
	superseded bool
	// faulty: its last recorded status read failed (a fault was marked).
	faulty   bool
	hv       *memhv.Hypervisor
	engine   *failover.Engine
	x        *failover.Executor
	epoch    int // the engine's generation: answers to an older one are dropped
	nextTick time.Time
}

// newReplaySim builds the simulated rack: each server powered, running
// its -vms VMs, which the store says it owns.
func newReplaySim(setup replaySetup, p failover.Policy, onEvent func(failover.Event)) (*replaySim, error) {
	var topo rack.Topology
	var err error
	if setup.Topology == "pairs" {
		topo, err = rack.Pairs(setup.Servers...)
	} else {
		topo, err = rack.Ring(setup.Servers...)
	}
	if err != nil {
		return nil, usageError("topology %s of %d recorded servers: %v", setup.Topology, len(setup.Servers), err)
	}
	start := setup.Records[setup.Servers[0]][0].Time
	for _, n := range setup.Servers {
		if t := setup.Records[n][0].Time; t.Before(start) {
			start = t
		}
	}
	s := &replaySim{setup: setup, policy: p, topo: topo, clock: clock.NewManual(start), store: memstore.New(),
		servers: map[string]*replayServer{}, onEvent: onEvent}
	storage := memhv.NewStorage()
	ctx := context.Background()
	for _, n := range setup.Servers {
		cfg := memhv.DefaultConfig(n)
		cfg.Storage = storage
		hv, err := memhv.New(cfg)
		if err != nil {
			return nil, err
		}
		srv := &replayServer{name: n, powered: true, hv: hv}
		s.servers[n] = srv
		for v := 1; v <= setup.VMs; v++ {
			img := imagestore.Image{Name: fmt.Sprintf("%s-vm%d", n, v), Owner: n, Priority: setup.VMs - v,
				Definition: fmt.Appendf(nil, `{"vm":"%s-vm%d"}`, n, v), MemoryMiB: 2048, CPUs: 2}
			stored, err := s.store.Put(ctx, img)
			if err != nil {
				return nil, err
			}
			if err := hv.Start(ctx, stored); err != nil {
				return nil, err
			}
		}
	}
	for _, srv := range s.servers {
		peers := map[string]hypervisor.Hypervisor{}
		for n, o := range s.servers {
			if o != srv {
				peers[n] = o.hv
			}
		}
		x, err := failover.NewExecutor(failover.Config{Server: srv.name, Manager: replayManager{s}, Store: s.store,
			Hypervisor: srv.hv, Peers: peers, Policy: p, Clock: s.clock, Logger: discardLogger()})
		if err != nil {
			return nil, err
		}
		srv.x = x
		if _, err := failover.NewEngine(srv.name, p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run replays every record and returns the events the engines emitted.
func (s *replaySim) Run() ([]failover.Event, error) {
	end := s.clock.Now()
	for _, n := range s.setup.Servers {
		s.boot(s.servers[n])
		if rs := s.setup.Records[n]; len(rs) > 0 {
			s.next(n, 0)
			if last := rs[len(rs)-1].Time; last.After(end) {
				end = last
			}
		}
	}
	s.beat(s.clock.Now().Add(s.setup.Tick), end)
	stop := end.Add(s.setup.After)
	for s.queue.Len() > 0 && s.err == nil {
		ev := heap.Pop(&s.queue).(queued)
		if ev.at.After(stop) {
			break
		}
		if ev.at.After(s.clock.Now()) {
			s.clock.Set(ev.at)
		}
		ev.do()
	}
	return s.events, s.err
}

// boot starts srv's monitor: a new engine, told it (re)started. An error
// (none is expected: newReplaySim built the same) ends the run.
func (s *replaySim) boot(srv *replayServer) {
	e, err := failover.NewEngine(srv.name, s.policy)
	if err != nil {
		s.err = errors.Join(s.err, err)
		return
	}
	srv.engine, srv.nextTick = e, time.Time{}
	srv.epoch++
	s.feed(srv, failover.Input{Kind: failover.InputBoot})
}

// next schedules the i-th record of server, which schedules the one
// after it when delivered (so the queue holds one record per server).
func (s *replaySim) next(server string, i int) {
	rs := s.setup.Records[server]
	if i >= len(rs) {
		return
	}
	s.at(rs[i].Time, func() {
		s.deliver(rs[i])
		s.next(server, i+1)
	})
}

// deliver gives st, or what supersedes it, to its server's watcher.
func (s *replaySim) deliver(st rack.Status) {
	srv := s.servers[st.Server]
	fault := s.faultOf(st)
	if !srv.superseded {
		if fault != "" && !srv.faulty && s.onFault != nil {
			vms, _ := imagestore.OwnedBy(context.Background(), s.store, srv.name)
			var names []string
			for _, img := range vms {
				names = append(names, img.Name)
			}
			s.onFault(srv.name, fault, names)
		}
		srv.faulty = fault != ""
	}
	if srv.superseded {
		if srv.powered && fault == "" {
			srv.superseded = false
		} else {
			st = superseded(st, srv.powered)
		}
	}
	w := s.servers[s.topo.WatcherOf(st.Server)]
	if w == nil || w.engine == nil {
		return // its watcher is off: nobody watches (no hand-over here)
	}
	s.feed(w, failover.Input{Kind: failover.InputStatus, Status: &st})
}

// faultOf names what the engine judges failed in a recorded status, or
// is "" when it reads healthy: unreachable, no power or a fault, an
// expired watchdog, a voltage or temperature at the danger level (with
// the policy's threshold overrides), every voltage at zero.
func (s *replaySim) faultOf(st rack.Status) string {
	switch {
	case !st.Reachable:
		return "BMC unreachable"
	case st.HealthErr == "" && st.Health.Failed():
		return telemetry.HealthFailures(st.Health)
	case st.WatchdogKnown && st.Watchdog.Expired:
		return "watchdog expired"
	}
	volts, zero := 0, 0
	for _, rd := range st.Readings {
		if rd.Status != sensor.StatusOK || (rd.Kind != sensor.KindTemperature && rd.Kind != sensor.KindVoltage) {
			continue
		}
		if rd.Kind == sensor.KindVoltage {
			volts++
			if math.Abs(rd.Value) < s.policy.ZeroVolts {
				zero++
			}
		}
		t := rd.Thresholds
		if o, ok := s.policy.Overrides[rd.Name]; ok {
			t = o
		}
		if l := t.Level(rd.Value); l >= s.policy.DangerLevel {
			return fmt.Sprintf("%s %.4g%s (%s)", rd.Name, rd.Value, rd.Unit, l)
		}
	}
	if volts > 0 && zero == volts {
		return "every voltage at 0"
	}
	return ""
}

// superseded is what the simulated server shows instead of st: its
// simulated power, no fault, its sensors unavailable and no watchdog.
func superseded(st rack.Status, powered bool) rack.Status {
	power := bmc.PowerOff
	if powered {
		power = bmc.PowerOn
	}
	out := rack.Status{Server: st.Server, Time: st.Time, Reachable: true, Health: bmc.Health{Power: power},
		Fast: st.Fast, RackFailed: st.RackFailed, RackSize: st.RackSize}
	for _, rd := range st.Readings {
		rd.Status, rd.Value = sensor.StatusUnavailable, 0
		out.Readings = append(out.Readings, rd)
	}
	return out
}

// beat ticks every running engine at t and every Tick after, up to end.
func (s *replaySim) beat(t, end time.Time) {
	if t.After(end) {
		return
	}
	s.at(t, func() {
		for _, n := range s.setup.Servers {
			if srv := s.servers[n]; srv.engine != nil {
				s.feed(srv, failover.Input{Kind: failover.InputTick})
			}
		}
		s.beat(t.Add(s.setup.Tick), end)
	})
}

// feed steps srv's engine at the current time and dispatches its actions.
func (s *replaySim) feed(srv *replayServer, in failover.Input) {
	in.Time = s.clock.Now()
	acts := slices.Clone(srv.engine.Step(in))
	for _, a := range acts {
		if a.Kind == failover.ActionNotify {
			s.events = append(s.events, a.Event)
			if s.onEvent != nil {
				s.onEvent(a.Event)
			}
			continue
		}
		s.dispatch(srv, a)
	}
	now := s.clock.Now()
	if next := srv.engine.Next(); !next.IsZero() && (srv.nextTick.IsZero() || next.Before(srv.nextTick) || !srv.nextTick.After(now)) {
		srv.nextTick = next
		epoch := srv.epoch
		s.at(next, func() {
			if srv.epoch == epoch && srv.engine != nil && !srv.nextTick.After(s.clock.Now()) {
				srv.nextTick = time.Time{}
				s.feed(srv, failover.Input{Kind: failover.InputTick})
			}
		})
	}
}

// dispatch carries a out when its latency has passed and feeds the
// answer to the engine that asked, if it still runs.
func (s *replaySim) dispatch(srv *replayServer, a failover.Action) {
	epoch := srv.epoch
	s.at(s.clock.Now().Add(s.latency(a)), func() {
		if srv.epoch != epoch || srv.engine == nil {
			return // the server went off meanwhile: its monitor is gone
		}
		in := srv.x.Do(context.Background(), a)
		if srv.epoch != epoch || srv.engine == nil {
			return // it fenced itself
		}
		s.feed(srv, in)
	})
}

func (s *replaySim) latency(a failover.Action) time.Duration {
	l := s.setup.Latency
	switch a.Kind {
	case failover.ActionFence, failover.ActionRestart:
		return l.Power
	case failover.ActionStart:
		return l.Start
	case failover.ActionCheckpoint:
		return l.Checkpoint
	}
	return l.Op
}

// power carries out a power action on the simulated server: off stops
// its VMs and its monitor and supersedes its recording; on boots a new
// monitor.
func (s *replaySim) power(server string, action bmc.PowerAction) error {
	srv := s.servers[server]
	if srv == nil {
		return fmt.Errorf("%w: %q", rack.ErrUnknownServer, server)
	}
	off := func() {
		srv.powered, srv.superseded = false, true
		srv.hv.PowerOff()
		srv.engine = nil
		srv.epoch++
	}
	on := func() error {
		if srv.powered {
			return nil
		}
		srv.powered = true
		srv.hv.PowerOn()
		s.boot(srv)
		return nil
	}
	switch action {
	case bmc.PowerActionOff:
		if srv.powered {
			off()
		}
		return nil
	case bmc.PowerActionOn:
		return on()
	case bmc.PowerActionCycle:
		if srv.powered {
			off()
		}
		return on()
	}
	return fmt.Errorf("replay: power action %v of %s: %w", action, server, bmc.ErrUnsupported)
}

// replayManager is the simulation's rack manager: power only.
type replayManager struct{ s *replaySim }

func (m replayManager) Watch(context.Context, string) (<-chan rack.Status, error) {
	return nil, fmt.Errorf("replay: %w: statuses come from the recording", bmc.ErrUnsupported)
}

func (m replayManager) Power(_ context.Context, server string, action bmc.PowerAction) error {
	return m.s.power(server, action)
}

// at schedules do at t; same-time events run in the order scheduled.
func (s *replaySim) at(t time.Time, do func()) {
	s.seq++
	heap.Push(&s.queue, queued{at: t, seq: s.seq, do: do})
}

type queued struct {
	at  time.Time
	seq int
	do  func()
}

// eventQueue is a min-heap by (at, seq).
type eventQueue []queued

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *eventQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
