package takeoverrig

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
)

// MirrorInterval is how often the rig reads every host's real power
// (besides the reads before each backup start and each check).
const MirrorInterval = 10 * time.Millisecond

// Host is one server of the rig.
type Host struct {
	// Name of the server in the rack. Required.
	Name string
	// Roles are its BMC roles, from the adapter under test; Roles.Name is
	// set to Name. Power is required (without it nothing is fenced).
	Roles rack.Server
	// Power reports the host's real power from the simulator behind the
	// adapter, never through the adapter under test (ipmi_sim's power
	// child, the Redfish test server's own resource). Required.
	Power func() (bmc.PowerState, error)
}

// Config describes a rig. Watched is the server that fails in the test;
// Watcher runs the Monitor and takes over.
type Config struct {
	Watched, Watcher Host
	// Policy of the Monitor. The zero Policy means DefaultPolicy() with
	// RetryInterval 1 s, EvacuationTimeout 20 s and RecoveryTimeout 30 s,
	// so a test's retries and deadlines fit in seconds.
	Policy failover.Policy
	// Interval and FastInterval of the rack manager's polls. Default
	// 300 ms and 100 ms: with the default DebouncePolls 4 a reading is
	// acted on in about 1.2 s, power loss or a fault bit within
	// FastDwell plus 100 ms.
	Interval, FastInterval time.Duration
	// WaitTimeout bounds each Wait. Default 20 s.
	WaitTimeout time.Duration
	// Store is the image store the Monitor uses. Nil means a new
	// memstore.
	Store imagestore.Store
}

// Server is one running server of the rig.
type Server struct {
	Name string
	HV   *memhv.Hypervisor
	// VM is the name of the VM this server runs at the start.
	VM string

	host  Host
	mu    sync.Mutex // serialises mirror reads of this host
	power bmc.PowerState
}

// Rig is a running rig; see the package doc.
type Rig struct {
	Watched, Watcher *Server
	Store            imagestore.Store
	Local            *rack.Local

	t       testing.TB
	cfg     Config
	ctx     context.Context
	storage *memhv.Storage

	mu      sync.Mutex
	events  []failover.Event
	doubles map[string]string // VM -> the first time two copies were seen, reported at cleanup
	seen    chan struct{}
}

// Start builds the rig and runs the rack manager, the power mirror and
// the watcher's Monitor until the test's cleanup. A setup error fails the
// test at once; so does a host whose real power is not on.
func Start(t testing.TB, cfg Config) *Rig {
	t.Helper()
	cfg = withDefaults(cfg)
	for _, h := range []Host{cfg.Watched, cfg.Watcher} {
		if h.Name == "" || h.Roles.Power == nil || h.Power == nil {
			t.Fatalf("takeoverrig: Host %q needs a Name, Roles.Power and Power", h.Name)
		}
	}
	if cfg.Watched.Name == cfg.Watcher.Name {
		t.Fatalf("takeoverrig: Watched and Watcher are both %q", cfg.Watched.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Rig{t: t, cfg: cfg, ctx: ctx, Store: cfg.Store, storage: memhv.NewStorage(),
		doubles: map[string]string{}, seen: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, d := range r.doubles {
			t.Error(d)
		}
	})
	r.Watched, r.Watcher = r.server(cfg.Watched), r.server(cfg.Watcher)
	topo, err := rack.Pairs(r.Watched.Name, r.Watcher.Name)
	if err != nil {
		t.Fatal(err)
	}
	lcfg := rack.DefaultLocalConfig()
	lcfg.Topology, lcfg.Interval, lcfg.FastInterval = topo, cfg.Interval, cfg.FastInterval
	lcfg.CallTimeout, lcfg.PowerTimeout, lcfg.Logger = time.Second, 15*time.Second, quiet
	for _, s := range []*Server{r.Watched, r.Watcher} {
		roles := s.host.Roles
		roles.Name = s.Name
		lcfg.Servers = append(lcfg.Servers, roles)
	}
	if r.Local, err = rack.NewLocal(lcfg); err != nil {
		t.Fatal(err)
	}
	mon, err := failover.NewMonitor(failover.Config{
		Server: r.Watcher.Name, Manager: r.Local, Store: r.Store,
		Hypervisor: guarded{Hypervisor: r.Watcher.HV, r: r},
		Peers:      map[string]hypervisor.Hypervisor{r.Watched.Name: r.Watched.HV},
		Policy:     cfg.Policy, ActionTimeout: 20 * time.Second, TickInterval: 200 * time.Millisecond,
		Logger: quiet, OnEvent: r.record,
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(3)
	go func() { defer wg.Done(); _ = r.Local.Run(ctx) }()
	go func() { defer wg.Done(); r.mirror(ctx) }()
	go func() { defer wg.Done(); _ = mon.Run(ctx) }()
	return r
}

var quiet = slog.New(slog.DiscardHandler)

func withDefaults(cfg Config) Config {
	if isZero(cfg.Policy) {
		cfg.Policy = failover.DefaultPolicy()
		cfg.Policy.RetryInterval = time.Second
		cfg.Policy.EvacuationTimeout = 20 * time.Second
		cfg.Policy.RecoveryTimeout = 30 * time.Second
	}
	if cfg.Interval == 0 {
		cfg.Interval = 300 * time.Millisecond
	}
	if cfg.FastInterval == 0 {
		cfg.FastInterval = 100 * time.Millisecond
	}
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = 20 * time.Second
	}
	if cfg.Store == nil {
		cfg.Store = memstore.New()
	}
	return cfg
}

// isZero reports whether p was left unset (the fields every valid Policy
// sets).
func isZero(p failover.Policy) bool {
	return p.DebouncePolls == 0 && p.MaxStatusGap == 0 && p.MaxParallelStarts == 0 && p.FenceAttempts == 0 && p.StartAttempts == 0
}

// server creates h's hypervisor, starts its VM there and stores its image.
func (r *Rig) server(h Host) *Server {
	r.t.Helper()
	hcfg := memhv.DefaultConfig(h.Name)
	hcfg.Storage = r.storage
	hv, err := memhv.New(hcfg)
	if err != nil {
		r.t.Fatal(err)
	}
	s := &Server{Name: h.Name, HV: hv, VM: "vm-" + h.Name, host: h, power: bmc.PowerOn}
	if st, err := h.Power(); err != nil || st != bmc.PowerOn {
		r.t.Fatalf("takeoverrig: host %s real power %v (%v) at the start, want on", h.Name, st, err)
	}
	img := imagestore.Image{Name: s.VM, Definition: []byte("<domain/>"), Disks: []string{"/shared/" + s.VM + ".qcow2"},
		Owner: h.Name, MemoryMiB: 1024, CPUs: 1}
	if err := hv.Start(r.ctx, img); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.Store.Put(r.ctx, img); err != nil {
		r.t.Fatal(err)
	}
	return s
}

// Context ends at the test's cleanup.
func (r *Rig) Context() context.Context { return r.ctx }

func (r *Rig) record(e failover.Event) {
	r.t.Logf("event: %v", e)
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
}

// Events returns the Monitor's events so far, in order.
func (r *Rig) Events() []failover.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]failover.Event(nil), r.events...)
}

// Wait returns the first event that match accepts, waiting up to
// Config.WaitTimeout; past it the test fails with the events seen.
func (r *Rig) Wait(what string, match func(failover.Event) bool) failover.Event {
	r.t.Helper()
	deadline := time.NewTimer(r.cfg.WaitTimeout)
	defer deadline.Stop()
	for {
		for _, e := range r.Events() {
			if match(e) {
				return e
			}
		}
		select {
		case <-deadline.C:
			r.t.Fatalf("no %s event within %v; events seen:\n%s", what, r.cfg.WaitTimeout, r.eventList())
		case <-r.seen:
		}
	}
}

// WaitEvent waits (as Wait) for an event of type typ about the watched
// server, and for VM vm unless vm is "".
func (r *Rig) WaitEvent(typ failover.EventType, vm string) failover.Event {
	r.t.Helper()
	what := string(typ)
	if vm != "" {
		what += " " + vm
	}
	return r.Wait(what, func(e failover.Event) bool {
		return e.Type == typ && e.Server == r.Watched.Name && (vm == "" || e.VM == vm)
	})
}

func (r *Rig) eventList() string {
	var b strings.Builder
	for _, e := range r.Events() {
		fmt.Fprintf(&b, "  %v\n", e)
	}
	if b.Len() == 0 {
		return "  (none)\n"
	}
	return b.String()
}

// WaitPolled waits until the rack manager has read n full statuses of
// each server that its BMC answered, so the Monitor has seen them
// healthy; past Config.WaitTimeout the test fails.
func (r *Rig) WaitPolled(n int) {
	r.t.Helper()
	deadline := time.Now().Add(r.cfg.WaitTimeout)
	for _, s := range []*Server{r.Watched, r.Watcher} {
		for full(r.Local.Journal(s.Name)) < n {
			if time.Now().After(deadline) {
				r.t.Fatalf("fewer than %d answered full statuses of %s within %v", n, s.Name, r.cfg.WaitTimeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func full(j *rack.Journal) int {
	n := 0
	for _, st := range j.Entries() {
		if !st.Fast && st.Reachable {
			n++
		}
	}
	return n
}

// RunsOnlyOn checks, after reading every host's real power, that vm runs
// on s and on no other host.
func (r *Rig) RunsOnlyOn(vm string, s *Server) {
	r.t.Helper()
	r.follow(r.Watched)
	r.follow(r.Watcher)
	if got := r.storage.Running(vm); len(got) != 1 || got[0] != s.Name {
		r.t.Errorf("%s runs on %v; want only on %s", vm, got, s.Name)
	}
}

// mirror follows every host's real power until ctx ends, and checks that
// no VM runs twice.
func (r *Rig) mirror(ctx context.Context) {
	t := time.NewTicker(MirrorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.follow(r.Watched)
		r.follow(r.Watcher)
		r.checkSingle("")
	}
}

// follow reads s's real power and applies a change to its hypervisor.
// A read that fails changes nothing.
func (r *Rig) follow(s *Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.host.Power()
	if err != nil || st == bmc.PowerUnknown || st == s.power {
		return
	}
	if st == bmc.PowerOff {
		s.HV.PowerOff()
	} else {
		s.HV.PowerOn()
	}
	s.power = st
}

// checkSingle records every VM (or only vm, if set) that runs on more
// than one host, once per VM. Hypervisors follow real power, so each
// host listed is powered.
func (r *Rig) checkSingle(vm string) {
	for name, hosts := range r.storage.RunningAll() {
		if len(hosts) < 2 || (vm != "" && name != vm) {
			continue
		}
		r.mu.Lock()
		if _, dup := r.doubles[name]; !dup {
			r.doubles[name] = fmt.Sprintf("two copies: %s runs on %v at once (%s)", name, hosts, time.Now().Format("15:04:05.000"))
		}
		r.mu.Unlock()
	}
}

// guarded is the watcher's hypervisor: before each start it reads every
// host's real power, and after it checks that the VM runs once.
type guarded struct {
	*memhv.Hypervisor
	r *Rig
}

func (g guarded) Start(ctx context.Context, img imagestore.Image) error {
	g.r.follow(g.r.Watched)
	g.r.follow(g.r.Watcher)
	err := g.Hypervisor.Start(ctx, img)
	g.r.checkSingle(img.Name)
	return err
}
