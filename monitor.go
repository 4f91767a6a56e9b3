package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
)

// Config configures a Monitor.
type Config struct {
	// Server is the watcher's own name, as in the rack topology. Required.
	Server string
	// Manager delivers the watched servers' statuses and powers them.
	// Required.
	Manager rack.Manager
	// Store holds the VMs' images and ownership. Required.
	Store imagestore.Store
	// Hypervisor is the watcher's own: backups start here. Required.
	Hypervisor hypervisor.Hypervisor
	// Peers are the watched servers' hypervisors, used to evacuate a
	// degraded server. Optional: a server without one here (or whose
	// hypervisor cannot checkpoint) is fenced and cold-started instead.
	Peers map[string]hypervisor.Hypervisor
	// Policy decides detection and takeover. Default DefaultPolicy().
	Policy Policy
	// ActionTimeout bounds each image store and hypervisor call. Default
	// 2 min: a cold start of a large VM takes that long on busy storage.
	ActionTimeout time.Duration
	// TickInterval is how often deadlines and retries are checked in Run.
	// Default 1 s.
	TickInterval time.Duration
	// Clock gives the time fed to the engine. Default the real clock.
	Clock Clock
	// Logger receives every event (alerts at Warn). Default slog.Default().
	Logger *slog.Logger
	// OnEvent, when set, is called with every event, in order, from the
	// goroutine running the monitor. It must not block for long.
	OnEvent func(Event)
}

// DefaultConfig returns the defaults documented on Config, with the
// required fields empty.
func DefaultConfig() Config {
	return Config{
		Policy:        DefaultPolicy(),
		ActionTimeout: 2 * time.Minute,
		TickInterval:  time.Second,
		Clock:         realClock{},
		Logger:        slog.Default(),
	}
}

// Validate names the first field that is missing or out of range.
func (c Config) Validate() error {
	switch {
	case c.Server == "":
		return fmt.Errorf("%w: Config.Server is empty", ErrInvalidConfig)
	case c.Manager == nil:
		return fmt.Errorf("%w: Config.Manager is nil", ErrInvalidConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Config.Store is nil", ErrInvalidConfig)
	case c.Hypervisor == nil:
		return fmt.Errorf("%w: Config.Hypervisor is nil", ErrInvalidConfig)
	case c.ActionTimeout <= 0:
		return fmt.Errorf("%w: Config.ActionTimeout %v must be positive", ErrInvalidConfig, c.ActionTimeout)
	case c.TickInterval <= 0:
		return fmt.Errorf("%w: Config.TickInterval %v must be positive", ErrInvalidConfig, c.TickInterval)
	}
	return c.Policy.Validate()
}

// Monitor runs an Engine for one watcher against real adapters and carries
// out its actions one after another, each within its timeout. Step, Tick
// and Reconcile are safe to call from several goroutines (they take turns);
// Run calls them for you.
type Monitor struct {
	cfg Config

	mu     sync.Mutex
	engine *Engine
	queue  []Action
}

// NewMonitor fills unset optional fields of cfg with their defaults,
// checks it and returns a Monitor. A zero Policy means DefaultPolicy().
func NewMonitor(cfg Config) (*Monitor, error) {
	def := DefaultConfig()
	if cfg.Policy.DebouncePolls == 0 && cfg.Policy.FenceAttempts == 0 {
		cfg.Policy = def.Policy
	}
	if cfg.ActionTimeout == 0 {
		cfg.ActionTimeout = def.ActionTimeout
	}
	if cfg.TickInterval == 0 {
		cfg.TickInterval = def.TickInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = def.Clock
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e, err := NewEngine(cfg.Server, cfg.Policy)
	if err != nil {
		return nil, err
	}
	return &Monitor{cfg: cfg, engine: e}, nil
}

// Phase returns where the monitor stands with a watched server.
func (m *Monitor) Phase(server string) Phase {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.engine.Phase(server)
}

// Run reconciles, then watches the peers until ctx ends, acting on every
// status and checking deadlines every TickInterval. It returns nil when
// ctx ends, or an error if the rack manager refuses the watch.
func (m *Monitor) Run(ctx context.Context) error {
	ch, err := m.cfg.Manager.Watch(ctx, m.cfg.Server)
	if err != nil {
		return fmt.Errorf("failover: watch as %q: %w", m.cfg.Server, err)
	}
	if err := m.Reconcile(ctx); err != nil {
		m.cfg.Logger.Warn("failover: reconcile", "server", m.cfg.Server, "err", err)
	}
	t := time.NewTicker(m.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case st, ok := <-ch:
			if !ok {
				return nil
			}
			m.Step(ctx, st)
		case <-t.C:
			m.Tick(ctx)
		}
	}
}

// Step feeds one status of a watched server to the engine and carries out
// every action that follows, until none is left.
func (m *Monitor) Step(ctx context.Context, st rack.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.feed(ctx, Input{Kind: InputStatus, Time: m.cfg.Clock.Now(), Status: &st})
}

// Tick lets deadlines and retries fire, and carries out what follows.
func (m *Monitor) Tick(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.feed(ctx, Input{Kind: InputTick, Time: m.cfg.Clock.Now()})
}

func (m *Monitor) feed(ctx context.Context, in Input) {
	m.queue = append(m.queue, m.engine.Step(in)...)
	for len(m.queue) > 0 {
		a := m.queue[0]
		m.queue = m.queue[1:]
		if next, ok := m.do(ctx, a); ok {
			next.Time = m.cfg.Clock.Now()
			// What follows from an answer goes first: a VM checkpointed
			// off a degraded server starts before the next is stopped.
			m.queue = append(slices.Clone(m.engine.Step(next)), m.queue...)
		}
	}
	m.queue = m.queue[:0]
}

// do carries out one action and returns the input that answers it.
func (m *Monitor) do(ctx context.Context, a Action) (Input, bool) {
	switch a.Kind {
	case ActionNotify:
		m.publish(a.Event)
		if a.Event.Type == EventAlert && a.Event.Cause == CauseBMCUnreachable && a.Event.VM == "" {
			m.alertAtRisk(ctx, a.Event)
		}
		return Input{}, false
	case ActionInventory:
		in := Input{Kind: InputInventory, Server: a.Server}
		c, cancel := context.WithTimeout(ctx, m.cfg.ActionTimeout)
		defer cancel()
		in.Images, in.Err = imagestore.OwnedBy(c, m.cfg.Store, a.Server)
		if cr, ok := m.cfg.Hypervisor.(hypervisor.CapacityReporter); ok && in.Err == nil {
			free, err := cr.FreeCapacity(c)
			if err != nil {
				in.Err = fmt.Errorf("free capacity of %s: %w", m.cfg.Server, err)
			}
			in.Free, in.FreeKnown = free, err == nil
		}
		_, in.CanEvacuate = m.cfg.Peers[a.Server].(hypervisor.Checkpointer)
		return in, true
	case ActionCheckpoint:
		img, err := m.checkpoint(ctx, a)
		return Input{Kind: InputCheckpointed, Server: a.Server, Image: img, Err: err}, true
	case ActionFence:
		return Input{Kind: InputFenced, Server: a.Server, Err: m.cfg.Manager.Power(ctx, a.Server, bmc.PowerActionOff)}, true
	case ActionStartBackup:
		img, err := m.startBackup(ctx, a.Server, a.Image)
		return Input{Kind: InputStarted, Server: a.Server, Image: img, Err: err}, true
	case ActionRestart:
		return Input{Kind: InputRestarted, Server: a.Server, Err: m.cfg.Manager.Power(ctx, a.Server, a.Power)}, true
	}
	return Input{}, false
}

func (m *Monitor) publish(ev Event) {
	level := slog.LevelInfo
	if ev.Type == EventAlert {
		level = slog.LevelWarn
	}
	m.cfg.Logger.Log(context.Background(), level, "failover: "+string(ev.Type),
		"server", ev.Server, "peer", ev.Peer, "cause", ev.Cause, "vm", ev.VM, "message", ev.Message)
	if m.cfg.OnEvent != nil {
		m.cfg.OnEvent(ev)
	}
}

// alertAtRisk names, one alert each, the VMs of a server whose BMC is
// lost: none of them will be taken over until it answers again.
func (m *Monitor) alertAtRisk(ctx context.Context, ev Event) {
	c, cancel := context.WithTimeout(ctx, m.cfg.ActionTimeout)
	defer cancel()
	imgs, err := imagestore.OwnedBy(c, m.cfg.Store, ev.Server)
	if err != nil {
		ev.Message = fmt.Sprintf("cannot list its VMs: %v", err)
		m.publish(ev)
		return
	}
	for _, img := range imgs {
		ev.VM = img.Name
		ev.Message = "at risk: not taken over while the BMC is unreachable"
		m.publish(ev)
	}
}

// checkpoint saves and stops a VM on the degraded server, then records the
// checkpoint in the store at the image's generation.
func (m *Monitor) checkpoint(ctx context.Context, a Action) (imagestore.Image, error) {
	img := a.Image
	cp, ok := m.cfg.Peers[a.Server].(hypervisor.Checkpointer)
	if !ok {
		return img, fmt.Errorf("failover: %s: hypervisor cannot checkpoint", a.Server)
	}
	left := a.Deadline.Sub(m.cfg.Clock.Now())
	if left <= 0 {
		return img, fmt.Errorf("failover: checkpoint %q: evacuation deadline passed", img.Name)
	}
	c, cancel := context.WithTimeout(ctx, min(left, m.cfg.ActionTimeout))
	defer cancel()
	ref, err := cp.Checkpoint(c, img.Name)
	if err != nil {
		return img, fmt.Errorf("failover: checkpoint %q on %s: %w", img.Name, a.Server, err)
	}
	withRef := img.Clone()
	withRef.Checkpoint = ref
	stored, err := m.cfg.Store.Put(c, withRef)
	if err != nil {
		return img, fmt.Errorf("failover: record checkpoint of %q: %w", img.Name, err)
	}
	return stored, nil
}

// startBackup claims img for this server at the generation it was read at
// (the fencing token) and starts it here, resumed from its checkpoint when
// it has one. The stored image loses its checkpoint at the claim: once the
// VM runs again, that memory state is stale.
func (m *Monitor) startBackup(ctx context.Context, from string, img imagestore.Image) (imagestore.Image, error) {
	c, cancel := context.WithTimeout(ctx, m.cfg.ActionTimeout)
	defer cancel()
	ckpt := img.Checkpoint
	claim := img.Clone()
	claim.Checkpoint = ""
	stored, err := imagestore.Claim(c, m.cfg.Store, claim, m.cfg.Server)
	if err != nil {
		if !errors.Is(err, imagestore.ErrStaleGeneration) {
			return img, err
		}
		cur, gerr := m.cfg.Store.Get(c, img.Name)
		switch {
		case gerr != nil:
			return img, errors.Join(err, gerr)
		case cur.Owner == m.cfg.Server && from != m.cfg.Server && cur.Generation == img.Generation+1:
			// Our own claim of an earlier attempt: the VM is ours to start.
			stored = cur
		case cur.Owner != from:
			return img, fmt.Errorf("%w: %q is owned by %s: %v", ErrClaimedElsewhere, img.Name, cur.Owner, err)
		default:
			return img, err
		}
	}
	run := stored.Clone()
	run.Checkpoint = ckpt
	if err := m.cfg.Hypervisor.Start(c, run); err != nil && !errors.Is(err, hypervisor.ErrAlreadyRunning) {
		return run, fmt.Errorf("failover: start %q on %s: %w", img.Name, m.cfg.Server, err)
	}
	return run, nil
}

// Reconcile starts every VM this server owns that does not run here: after
// a monitor restart, a backup that was claimed but not yet started; after a
// server restart, its own VMs. Each is re-claimed first (its generation
// bumped), so a watcher about to take it over finds its token stale.
func (m *Monitor) Reconcile(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, cancel := context.WithTimeout(ctx, m.cfg.ActionTimeout)
	defer cancel()
	imgs, err := imagestore.OwnedBy(c, m.cfg.Store, m.cfg.Server)
	if err != nil {
		return fmt.Errorf("failover: reconcile %s: %w", m.cfg.Server, err)
	}
	var errs []error
	for _, img := range imgs {
		st, err := m.cfg.Hypervisor.State(c, img.Name)
		if err == nil && (st == hypervisor.StateRunning || st == hypervisor.StatePaused) {
			continue
		}
		if err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			errs = append(errs, fmt.Errorf("state of %q: %w", img.Name, err))
			continue
		}
		run, err := m.startBackup(c, m.cfg.Server, img)
		if err != nil {
			errs = append(errs, err)
			m.publish(Event{Time: m.cfg.Clock.Now(), Type: EventAlert, Server: m.cfg.Server, Peer: m.cfg.Server, VM: img.Name,
				Message: fmt.Sprintf("owned here but not running, and could not be started: %v", err)})
			continue
		}
		m.publish(Event{Time: m.cfg.Clock.Now(), Type: EventReconciled, Server: m.cfg.Server, Peer: m.cfg.Server, VM: img.Name,
			Resumed: run.Checkpoint != "", Message: "owned here but not running: started by reconcile"})
	}
	return errors.Join(errs...)
}
