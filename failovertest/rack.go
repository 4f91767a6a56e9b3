package failovertest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/clock"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// Server is one simulated server.
type Server struct {
	Name string
	BMC  *simbmc.BMC
	HV   *memhv.Hypervisor

	r          *Rack
	powered    bool // the host has power (may lag the BMC's word)
	up         bool // booted: OS running
	hung       bool
	armed      bool
	mon        *simMonitor
	baseline   map[string]float64
	drifted    map[string]float64 // the workload's slow drift, reset at boot
	frozen     bool               // test hook: the monitor silently does nothing
	lies       bool               // the BMC reports power off while the host runs
	offLag     time.Duration      // a power-off reaches the host this much later
	pendingOff bool               // a power-off is on its way to the host (offLag)
	powerSeq   int                // counts the BMC's power changes
	lease      leaseState         // lease.go
	isolated   bool               // cut from the network: store, rack manager and peers
}

// Rack is a simulated rack. See the package doc.
type Rack struct {
	cfg      Config
	Clock    *clock.Manual
	Store    *memstore.Store
	Storage  *memhv.Storage
	Manager  *rack.Local
	Topology rack.Topology
	Servers  []*Server

	byName     map[string]*Server
	rng        *rand.Rand
	q          queue
	seq        uint64
	mut        mutation
	events     []failover.Event
	faults     []*injected
	violations []string

	stop        context.CancelFunc // ends every watch of the rack
	ctx         context.Context
	stopManager context.CancelFunc // ends the current rack manager's watches
	managerDown bool
	storeDown   bool
	storeSlow   bool
	partitions  map[[2]string]bool // watcher, server
	ckptAt      map[string]time.Time
	resumed     map[string]bool
	startedAt   map[string]time.Time
	startsOn    map[string][]startRec                // per server: start attempts, in order
	journal     map[string]map[string]watchdog.State // per watcher: the peers' watchdogs it journaled
}

type startRec struct {
	vm string
	at time.Time
}

// New builds a rack from cfg (zero fields take DefaultConfig's values; a
// zero Policy means DefaultConfig's, any other is used as given): servers
// powered on, each watchdog armed, and every monitor reconciled. It
// returns once every protected VM runs on its server (about a second of
// simulated time: each start takes Latency.Start).
func New(cfg Config) (*Rack, error) { return newRack(cfg, 0) }

func newRack(cfg Config, mut mutation) (*Rack, error) {
	def := DefaultConfig()
	if cfg.Servers == 0 {
		cfg.Servers = def.Servers
	}
	if cfg.VMsPerServer == 0 {
		cfg.VMsPerServer = def.VMsPerServer
	}
	if cfg.VMMemoryMiB == 0 {
		cfg.VMMemoryMiB = def.VMMemoryMiB
	}
	if cfg.VMCPUs == 0 {
		cfg.VMCPUs = def.VMCPUs
	}
	if cfg.Capacity == (hypervisor.Capacity{}) {
		cfg.Capacity = hypervisor.Capacity{MemoryMiB: 2 * int64(cfg.VMsPerServer) * cfg.VMMemoryMiB, CPUs: 2 * cfg.VMsPerServer * cfg.VMCPUs}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = def.PollInterval
	}
	if cfg.FastPollInterval == 0 {
		cfg.FastPollInterval = def.FastPollInterval
	}
	if cfg.Seed == 0 {
		cfg.Seed = def.Seed
	}
	if cfg.WatchdogTimeout == 0 {
		cfg.WatchdogTimeout = def.WatchdogTimeout
	}
	if cfg.Latency == (Latency{}) {
		cfg.Latency = def.Latency
	}
	if isZeroPolicy(cfg.Policy) {
		cfg.Policy = def.Policy
	}
	if cfg.Start.IsZero() {
		cfg.Start = def.Start
	}
	if mut == mutDebounce1 {
		cfg.Policy.DebouncePolls = 1
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Rack{cfg: cfg, Clock: clock.NewManual(cfg.Start), Store: memstore.New(), Storage: memhv.NewStorage(),
		byName: map[string]*Server{}, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d)), mut: mut,
		partitions: map[[2]string]bool{}, ckptAt: map[string]time.Time{}, resumed: map[string]bool{},
		startedAt: map[string]time.Time{}, startsOn: map[string][]startRec{}, journal: map[string]map[string]watchdog.State{}}
	r.ctx, r.stop = context.WithCancel(context.Background())
	var names []string
	for i := range cfg.Servers {
		names = append(names, fmt.Sprintf("blade-%d", i+1))
	}
	topo, err := rack.Ring(names...)
	if err != nil {
		return nil, err
	}
	r.Topology = topo
	ctx := context.Background()
	for _, name := range names {
		s := &Server{Name: name, r: r, powered: true, baseline: map[string]float64{}}
		s.lease.rate = 1
		if cfg.LeaseTTL > 0 {
			s.lease.rate = 1 + (2*r.rng.Float64()-1)*cfg.ClockDrift
		}
		bcfg := simbmc.DefaultConfig(name)
		bcfg.Clock = r.Clock
		bcfg.OnPower = s.onPower
		for _, rd := range bcfg.Readings {
			s.baseline[rd.Name] = rd.Value
		}
		if s.BMC, err = simbmc.New(bcfg); err != nil {
			return nil, err
		}
		if s.HV, err = memhv.New(memhv.Config{Name: name, Capacity: cfg.Capacity, Storage: r.Storage}); err != nil {
			return nil, err
		}
		r.Servers = append(r.Servers, s)
		r.byName[name] = s
		for v := range cfg.VMsPerServer {
			img := imagestore.Image{
				Name:       fmt.Sprintf("%s-vm%d", name, v+1),
				Definition: []byte(fmt.Sprintf(`{"vm":"%s-vm%d"}`, name, v+1)),
				Disks:      []string{fmt.Sprintf("shared://%s-vm%d.qcow2", name, v+1)},
				Owner:      name, Priority: cfg.VMsPerServer - v,
				MemoryMiB: cfg.VMMemoryMiB, CPUs: cfg.VMCPUs,
			}
			if _, err := r.Store.Put(ctx, img); err != nil {
				return nil, err
			}
		}
	}
	if err := r.newManager(); err != nil {
		return nil, err
	}
	for _, s := range r.Servers {
		if err := s.boot(); err != nil {
			return nil, err
		}
	}
	r.after(cfg.PollInterval, r.fullPoll)
	if cfg.FastPollInterval > 0 {
		r.after(cfg.FastPollInterval, r.fastPoll)
	}
	// The boot reconciles: each server starts its VMs.
	for deadline := r.Now().Add(30 * time.Second); r.Now().Before(deadline) && !r.allRunning(); {
		r.runUntil(r.Now().Add(10 * time.Millisecond))
	}
	if !r.allRunning() {
		return nil, fmt.Errorf("failovertest: the VMs did not start at boot: %v", r.Check())
	}
	return r, nil
}

func isZeroPolicy(p failover.Policy) bool { return reflect.ValueOf(p).IsZero() }

// newManager (re)starts the rack manager with no memory; every server
// keeps a watch open on it (a server's monitor restarts within a poll, so
// liveness is judged by the server's own status).
func (r *Rack) newManager() error {
	var rs []rack.Server
	for _, s := range r.Servers {
		rs = append(rs, rack.Server{Name: s.Name, Sensors: s.BMC, Health: lyingHealth{s}, Watchdog: s.BMC, Power: s.BMC})
	}
	fast := r.cfg.FastPollInterval
	if fast <= 0 {
		fast = -1
	}
	m, err := rack.NewLocal(rack.LocalConfig{Topology: r.Topology, Servers: rs, Interval: r.cfg.PollInterval, FastInterval: fast,
		Parallel: 1, Now: r.Clock.Now, Logger: discardLogger})
	if err != nil {
		return err
	}
	if r.stopManager != nil {
		r.stopManager()
	}
	var ctx context.Context
	ctx, r.stopManager = context.WithCancel(r.ctx)
	for _, s := range r.Servers {
		if _, err := m.Watch(ctx, s.Name); err != nil {
			return err
		}
	}
	r.Manager = m
	return nil
}

// Close ends the rack manager's watches (each holds a goroutine). The
// rack's record (Events, Check, Timeline) stays readable; stepping it
// further is not useful.
func (r *Rack) Close() { r.stop() }

// lyingHealth is a BMC's health as the rack manager reads it: while the
// server's BMC lies, it reports power off.
type lyingHealth struct{ s *Server }

func (l lyingHealth) Health(ctx context.Context) (bmc.Health, error) {
	h, err := l.s.BMC.Health(ctx)
	if err == nil && l.s.lies {
		h.Power = bmc.PowerOff
	}
	return h, err
}

func (r *Rack) allRunning() bool {
	for _, img := range r.storeImages() {
		if len(r.Storage.Running(img.Name)) == 0 {
			return false
		}
	}
	return true
}

// Server returns the server called name, or nil.
func (r *Rack) Server(name string) *Server { return r.byName[name] }

// Now is the simulated time.
func (r *Rack) Now() time.Time { return r.Clock.Now() }

// Events returns every event so far, in order.
func (r *Rack) Events() []failover.Event { return slices.Clone(r.events) }

// onPower follows the BMC: power off ends the OS (its VMs and monitor die
// with it), offLag later when the BMC is one that reports early; power on
// boots a second later. Called with the BMC locked.
func (s *Server) onPower(p bmc.PowerState) {
	s.powerSeq++
	switch p {
	case bmc.PowerOff:
		if s.offLag > 0 {
			seq := s.powerSeq
			s.pendingOff = true
			s.r.after(s.offLag, func() {
				if s.pendingOff && s.powerSeq == seq {
					s.hostOff()
				}
			})
			return
		}
		s.hostOff()
	case bmc.PowerOn:
		if s.pendingOff {
			s.hostOff() // off and on again before the host noticed: it reset
		}
		s.powered = true
		s.r.after(s.r.cfg.PollInterval, func() {
			if s.powered && !s.up {
				if err := s.boot(); err != nil {
					s.r.violate("boot %s: %v", s.Name, err)
				}
			}
		})
	}
}

func (s *Server) hostOff() {
	s.pendingOff = false
	s.r.at(s.r.Now(), s.cool) // not now: onPower holds the BMC's lock
	s.powered, s.up, s.hung, s.armed, s.lies = false, false, false, false, false
	s.lease.alive = time.Time{}
	if s.mon != nil {
		s.mon.dead = true
	}
	s.HV.PowerOff()
}

// cool brings the sensors back to their baseline: a host that lost power
// cools down, so an overheated CPU does not read hot at the next boot.
func (s *Server) cool() {
	for name, v := range s.baseline {
		if err := s.BMC.SetValue(name, v); err != nil {
			s.r.violate("cool %s on %s: %v", name, s.Name, err)
		}
	}
}

// boot starts the OS: the hypervisor comes up empty, injected sensor and
// blade faults are gone, the watchdog updater arms, and the monitor starts
// and reconciles (restarting any VM this server still owns).
func (s *Server) boot() error {
	ctx := context.Background()
	s.up, s.hung, s.drifted = true, false, nil
	s.HV.SetUnreachable(false)
	s.HV.PowerOn()
	s.BMC.SetFault(false, "")
	s.cool()
	if s.r.leasesOn() {
		// Arms and starts its monitor once it holds a lease (leaseHeld).
		s.r.renew(s)
		return nil
	}
	s.recovered()
	if err := s.BMC.InBand().Arm(ctx, s.r.cfg.WatchdogTimeout, watchdog.ActionPowerDown); err != nil {
		return fmt.Errorf("failovertest: arm watchdog of %s: %w", s.Name, err)
	}
	s.armed = true
	return s.r.startMonitor(s)
}

// recovered ends the server's real failures: it is back in service (with
// a lease store, once it holds its lease again).
func (s *Server) recovered() {
	for _, f := range s.r.faults {
		if f.Server == s.Name && f.Kind.Real() && f.ended.IsZero() {
			f.ended = s.r.Now()
		}
	}
}

func (r *Rack) record(ev failover.Event) {
	r.events = append(r.events, ev)
	if ev.Type == failover.EventWatchdogSeen {
		r.journalWatchdog(ev)
	}
	if s := r.byName[ev.Server]; ev.Type == failover.EventDetected && ev.Cause == failover.CauseLeaseExpired && s != nil && s.up {
		r.violate("takeover by lease of a host still running: %s detected %s (lease expired) at %v", ev.Peer, ev.Server, r.since(ev.Time))
	}
	if s := r.byName[ev.Server]; ev.Type == failover.EventDetected && s != nil && s.up && !r.realFaultActive(ev.Server, ev.Time) {
		r.violate("takeover of a healthy server: %s detected on %s (cause %s) at %v", ev.Peer, ev.Server, ev.Cause, r.since(ev.Time))
	}
	if r.cfg.OnEvent != nil {
		r.cfg.OnEvent(ev)
	}
}

func (r *Rack) since(t time.Time) time.Duration { return t.Sub(r.cfg.Start) }

func (r *Rack) violate(format string, args ...any) {
	r.violations = append(r.violations, fmt.Sprintf("t=%v: ", r.since(r.Now()))+fmt.Sprintf(format, args...))
}

// checkUnique is invariant (a): no protected VM runs on two servers.
func (r *Rack) checkUnique(name string) {
	if on := r.Storage.Running(name); len(on) > 1 {
		r.violate("VM %s runs on %d servers at once: %s", name, len(on), strings.Join(on, ", "))
	}
}

func (r *Rack) realFaultActive(server string, at time.Time) bool {
	for _, f := range r.faults {
		if f.Server == server && f.Kind.Real() && !f.at.After(at) && (f.ended.IsZero() || f.ended.After(at)) {
			return true
		}
	}
	return false
}

// fullPoll is the rack manager's 1 Hz round: running servers kick their
// watchdogs, crashed monitors restart, every BMC is read and each status
// goes to its current watcher, and every monitor lets time pass. (Two
// copies can only appear at a start, where invariant (a) is checked.)
func (r *Rack) fullPoll() {
	ctx := context.Background()
	r.after(r.cfg.PollInterval, r.fullPoll)
	for _, s := range r.Servers {
		if r.leasesOn() {
			r.renew(s)
		}
		if s.up && !s.hung && s.armed && s.leaseAlive() {
			if err := s.BMC.InBand().Kick(ctx); err != nil {
				r.violate("kick watchdog of %s: %v", s.Name, err)
			}
		}
		if s.up && !s.hung && (s.armed || !r.leasesOn()) && (s.mon == nil || s.mon.dead) {
			if err := r.restartMonitor(s); err != nil {
				r.violate("restart monitor of %s: %v", s.Name, err)
			}
		}
	}
	if !r.managerDown {
		r.deliver(r.Manager.Poll(ctx))
	}
	for _, s := range r.Servers {
		if m := s.mon.live(); m != nil {
			m.feed(failover.Input{Kind: failover.InputTick})
		}
	}
}

func (r *Rack) fastPoll() {
	r.after(r.cfg.FastPollInterval, r.fastPoll)
	if !r.managerDown {
		r.deliver(r.Manager.FastPoll(context.Background()))
	}
}

func (r *Rack) deliver(sts []rack.Status) {
	for _, st := range sts {
		w := r.byName[r.Manager.WatcherOf(st.Server)]
		if w == nil {
			continue
		}

		if m := w.mon.live(); m != nil && !w.hung && !w.isolated {
			if r.mut == mutUnreachableFailed && !st.Reachable {
				st.Reachable, st.Err, st.HealthErr = true, "", ""
				st.Health = bmc.Health{Power: bmc.PowerOff}
			}
			m.feed(failover.Input{Kind: failover.InputStatus, Status: &st})
		}
	}
}

// Step advances the clock by one poll interval, running every operation,
// poll and fault that falls due meanwhile in time order, then judges the
// invariants.
func (r *Rack) Step(ctx context.Context) {
	r.runUntil(r.Now().Add(r.cfg.PollInterval))
	for _, s := range r.Servers {
		if s.mon != nil && s.mon.crashAtStep {
			s.mon.dead = true // a crash scheduled for this step happens by its end
		}
	}
	all := r.Storage.RunningAll()
	for _, vm := range slices.Sorted(maps.Keys(all)) {
		if len(all[vm]) > 1 {
			r.checkUnique(vm)
		}
	}
	r.judgeDue()
}

// Run steps n times.
func (r *Rack) Run(ctx context.Context, n int) {
	for range n {
		r.Step(ctx)
	}
}

func (r *Rack) storeImages() []imagestore.Image {
	imgs, err := r.Store.List(context.Background())
	if err != nil {
		r.violate("list store: %v", err)
	}
	return imgs
}
