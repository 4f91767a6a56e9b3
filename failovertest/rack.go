package failovertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
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

	r        *Rack
	powered  bool // as the BMC last said
	up       bool // booted: OS running
	hung     bool
	armed    bool
	monitor  *failover.Monitor
	sw       *crashSwitch
	baseline map[string]float64
	frozen   bool // test hook: the monitor silently does nothing
}

// Rack is a simulated rack. See the package doc.
type Rack struct {
	cfg      Config
	Clock    *simbmc.ManualClock
	Store    *memstore.Store
	Storage  *memhv.Storage
	Manager  *rack.Local
	Topology rack.Topology
	Servers  []*Server

	byName     map[string]*Server
	steps      int
	events     []failover.Event
	faults     []*injected
	violations []string
}

// New builds a rack from cfg (zero fields take DefaultConfig's values):
// servers powered on, each running its protected VMs, each watchdog armed
// and every monitor reconciled.
func New(cfg Config) (*Rack, error) {
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
	if cfg.WatchdogTimeout == 0 {
		cfg.WatchdogTimeout = def.WatchdogTimeout
	}
	if cfg.Latency == (Latency{}) {
		cfg.Latency = def.Latency
	}
	if cfg.Policy.DebouncePolls == 0 {
		cfg.Policy = def.Policy
	}
	if cfg.Start.IsZero() {
		cfg.Start = def.Start
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Rack{cfg: cfg, Clock: simbmc.NewManualClock(cfg.Start), Store: memstore.New(), Storage: memhv.NewStorage(), byName: map[string]*Server{}}
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
	var rs []rack.Server
	for _, name := range names {
		s := &Server{Name: name, r: r, powered: true, baseline: map[string]float64{}}
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
		rs = append(rs, rack.Server{Name: name, Sensors: s.BMC, Health: s.BMC, Watchdog: s.BMC, Power: s.BMC})
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
	r.Manager, err = rack.NewLocal(rack.LocalConfig{Topology: topo, Servers: rs, Interval: cfg.PollInterval, Parallel: 1, Now: r.Clock.Now})
	if err != nil {
		return nil, err
	}
	for _, s := range r.Servers {
		if err := s.boot(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Server returns the server called name, or nil.
func (r *Rack) Server(name string) *Server { return r.byName[name] }

// Now is the simulated time.
func (r *Rack) Now() time.Time { return r.Clock.Now() }

// Events returns every event so far, in order.
func (r *Rack) Events() []failover.Event { return slices.Clone(r.events) }

// onPower follows the BMC: power off ends the OS (its VMs and monitor die
// with it); power on boots at the next step. Called with the BMC locked.
func (s *Server) onPower(p bmc.PowerState) {
	switch p {
	case bmc.PowerOff:
		s.powered, s.up, s.hung, s.armed = false, false, false, false
		s.monitor = nil
		s.HV.PowerOff()
	case bmc.PowerOn:
		s.powered = true
	}
}

// boot starts the OS: the hypervisor comes up empty, injected sensor and
// blade faults are gone, the watchdog updater arms, and the monitor starts
// and reconciles (restarting any VM this server still owns).
func (s *Server) boot(ctx context.Context) error {
	s.up, s.hung = true, false
	s.HV.PowerOn()
	s.BMC.SetFault(false, "")
	for name, v := range s.baseline {
		if err := s.BMC.SetValue(name, v); err != nil {
			return err
		}
	}
	for _, f := range s.r.faults {
		if f.Server == s.Name && f.Kind.Real() && f.ended.IsZero() {
			f.ended = s.r.Now()
		}
	}
	if err := s.BMC.InBand().Arm(ctx, s.r.cfg.WatchdogTimeout, watchdog.ActionPowerDown); err != nil {
		return fmt.Errorf("failovertest: arm watchdog of %s: %w", s.Name, err)
	}
	s.armed = true
	return s.startMonitor(ctx)
}

func (s *Server) startMonitor(ctx context.Context) error {
	r := s.r
	s.sw = &crashSwitch{}
	sw := s.sw
	check := r.checkUnique
	peers := map[string]hypervisor.Hypervisor{}
	for _, p := range r.Topology.Watched(s.Name) {
		peers[p] = crashHV{h: r.byName[p].HV, sw: sw, check: check, wait: r.advance, lat: r.cfg.Latency}
	}
	m, err := failover.NewMonitor(failover.Config{
		Server:     s.Name,
		Manager:    crashManager{m: r.Manager, sw: sw, wait: func() { r.advance(r.cfg.Latency.Power) }},
		Store:      crashStore{s: r.Store, sw: sw},
		Hypervisor: crashHV{h: s.HV, sw: sw, check: check, wait: r.advance, lat: r.cfg.Latency},
		Peers:      peers,
		Policy:     r.cfg.Policy,
		Clock:      r.Clock,
		Logger:     discardLogger,
		OnEvent: func(ev failover.Event) {
			if !sw.crashed {
				r.record(ev)
			}
		},
	})
	if err != nil {
		return err
	}
	s.monitor = m
	// A VM reconcile cannot start (no room left here) is named in an
	// alert event; invariant (b) judges that.
	_ = m.Reconcile(ctx)
	return nil
}

func (r *Rack) record(ev failover.Event) {
	r.events = append(r.events, ev)
	if ev.Type == failover.EventDetected && !r.realFaultActive(ev.Server, ev.Time) {
		r.violate("takeover without a real failure: %s detected on %s (cause %s) at %v", ev.Peer, ev.Server, ev.Cause, r.since(ev.Time))
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

// advance moves the clock by d while an operation runs; running servers
// go on kicking their watchdogs meanwhile.
func (r *Rack) advance(d time.Duration) {
	if d <= 0 {
		return
	}
	r.Clock.Advance(d)
	for _, s := range r.Servers {
		if s.up && !s.hung && s.armed {
			if err := s.BMC.InBand().Kick(context.Background()); err != nil {
				r.violate("kick watchdog of %s: %v", s.Name, err)
			}
		}
	}
}

// Step advances the clock by one poll interval and runs the rack for it:
// transient faults end, powered servers boot, running servers kick their
// watchdogs, the rack manager polls every BMC, and every live monitor acts
// on its peers' statuses and on time passing.
func (r *Rack) Step(ctx context.Context) {
	r.Clock.Advance(r.cfg.PollInterval)
	r.steps++
	now := r.Now()
	for _, f := range r.faults {
		if !f.over && !f.until.IsZero() && !now.Before(f.until) {
			f.over = true
			r.undo(f)
		}
	}
	for _, s := range r.Servers {
		if s.powered && !s.up {
			if err := s.boot(ctx); err != nil {
				r.violate("boot %s: %v", s.Name, err)
			}
		}
		if s.up && s.sw.crashed {
			if err := s.startMonitor(ctx); err != nil {
				r.violate("restart monitor of %s: %v", s.Name, err)
			}
		}
		if s.up && !s.hung && s.armed {
			if err := s.BMC.InBand().Kick(ctx); err != nil {
				r.violate("kick watchdog of %s: %v", s.Name, err)
			}
		}
	}
	statuses := r.Manager.Poll(ctx)
	for _, s := range r.Servers {
		if s.monitor == nil || s.hung || s.sw.crashed || s.frozen {
			continue
		}
		for _, st := range statuses {
			if r.Topology.WatcherOf(st.Server) == s.Name && s.monitor != nil && !s.sw.crashed {
				s.monitor.Step(ctx, st)
			}
		}
		if s.monitor != nil && !s.sw.crashed {
			s.monitor.Tick(ctx)
		}
		if s.sw.at > 0 {
			s.sw.crashed = true // a crash scheduled for this step happens by its end
		}
	}
	for _, img := range r.storeImages() {
		r.checkUnique(img.Name)
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
