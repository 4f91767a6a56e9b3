package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackha/failover/clock"
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
	// degraded server and to ask, before a start, whether a VM still runs
	// on its last host. Optional: a server without one here (or whose
	// hypervisor cannot checkpoint) is fenced and cold-started instead.
	Peers map[string]hypervisor.Hypervisor
	// Policy decides detection and takeover. The zero Policy means
	// DefaultPolicy(); any other is used as given and must validate, so
	// start from DefaultPolicy() and change what you need.
	Policy Policy
	// ActionTimeout bounds each image store, hypervisor and power call;
	// a call still running then is abandoned and its outcome treated as
	// unknown. Default 2 min: a cold start of a large VM takes that long
	// on busy storage.
	ActionTimeout time.Duration
	// TickInterval is how often Run lets time pass in the engine even when
	// no deadline is due (a storm hold is re-judged then). Default 1 s.
	TickInterval time.Duration
	// Clock gives the time fed to the engine. Default clock.Real.
	Clock Clock
	// Logger receives every event (alerts at Warn). Default slog.Default().
	Logger *slog.Logger
	// Leases, when set, lets the watcher take over a server whose BMC died
	// with it, without a fence, once its lease in the store has expired
	// and its watchdog must have stopped it (lease.go says when). If it
	// also implements WatchdogJournal, what the watcher saw of each peer's
	// watchdog survives a restart. Default nil: no takeover without a
	// confirmed fence.
	Leases Leases
	// OnEvent, when set, is called with every event, in order, from the
	// goroutine running the monitor. It must not block for long: it delays
	// the next decision, never an action under way.
	OnEvent func(Event)
}

// DefaultConfig returns the defaults documented on Config, with the
// required fields empty.
func DefaultConfig() Config {
	return Config{
		Policy:        DefaultPolicy(),
		ActionTimeout: 2 * time.Minute,
		TickInterval:  time.Second,
		Clock:         clock.Real{},
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
	case c.Clock == nil:
		return fmt.Errorf("%w: Config.Clock is nil", ErrInvalidConfig)
	case c.Logger == nil:
		return fmt.Errorf("%w: Config.Logger is nil", ErrInvalidConfig)
	}
	return c.Policy.Validate()
}

// withDefaults fills each unset optional field (zero duration, nil clock
// or logger, zero Policy) and validates; it never replaces a field the
// caller set.
func (c Config) withDefaults() (Config, error) {
	def := DefaultConfig()
	if isZeroPolicy(c.Policy) {
		c.Policy = def.Policy
	}
	if c.ActionTimeout == 0 {
		c.ActionTimeout = def.ActionTimeout
	}
	if c.TickInterval == 0 {
		c.TickInterval = def.TickInterval
	}
	if c.Clock == nil {
		c.Clock = def.Clock
	}
	if c.Logger == nil {
		c.Logger = def.Logger
	}
	return c, c.Validate()
}

func isZeroPolicy(p Policy) bool { return reflect.ValueOf(p).IsZero() }

// Monitor runs an Engine for one watcher against real adapters. Its Run
// goroutine owns the engine and only moves inputs and actions: every
// action runs in its own goroutine (the engine bounds how many), its
// answer comes back to the engine whenever it is ready, and no lock is
// held across IO. A call still running at Config.ActionTimeout is
// abandoned. Phase is safe to call from any goroutine and never waits for
// an action.
type Monitor struct {
	cfg     Config
	x       *Executor
	engine  *Engine
	answers chan Input // of the current Run: a call left over from an earlier Run cannot answer this one
	journal chan Event // of the current Run: watchdog-seen events to save (nil: no journal)
	running atomic.Bool
	// lastStep is the Clock time of Run's last engine step, in Unix
	// nanoseconds (0: none yet).
	lastStep atomic.Int64

	mu     sync.Mutex
	phases map[string]Phase
}

// NewMonitor fills unset optional fields of cfg with their defaults (a
// zero Policy means DefaultPolicy()), checks it and returns a Monitor.
func NewMonitor(cfg Config) (*Monitor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e, err := NewEngine(cfg.Server, cfg.Policy)
	if err != nil {
		return nil, err
	}
	return &Monitor{cfg: cfg, x: &Executor{cfg: cfg}, engine: e, answers: make(chan Input, 64), phases: map[string]Phase{}}, nil
}

// Phase returns where the monitor stands with a watched server.
func (m *Monitor) Phase(server string) Phase {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.phases[server]
}

// Run reconciles what this server owns, then watches its peers until ctx
// ends, acting on every status and answer as it comes. When the rack
// manager's stream ends while ctx is alive, Run raises an alert and
// watches again, backing off up to 30 s; it returns an error only when the
// rack manager refuses the watcher (rack.ErrUnknownServer) or Run is
// already running, and nil when ctx ends. Run may be called again once it
// returned; each Run starts with no memory of the last (and reconciles).
func (m *Monitor) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: Monitor.Run of %q is already running", ErrInvalidConfig, m.cfg.Server)
	}
	defer m.running.Store(false)
	// Each Run starts with no memory, as after a restart: the answers an
	// earlier Run waited for never come, and InputBoot reconciles.
	e, err := NewEngine(m.cfg.Server, m.cfg.Policy)
	if err != nil {
		return err
	}
	m.engine, m.answers, m.journal = e, make(chan Input, 64), nil
	m.mu.Lock()
	m.phases = map[string]Phase{}
	m.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := m.cfg.Manager.Watch(ctx, m.cfg.Server)
	if err != nil {
		return fmt.Errorf("failover: watch as %q: %w", m.cfg.Server, err)
	}
	m.step(ctx, Input{Kind: InputBoot})
	leases := m.watchLeases(ctx)
	ticker := time.NewTicker(m.cfg.TickInterval)
	defer ticker.Stop()
	next := time.NewTimer(time.Hour)
	defer next.Stop()
	for {
		m.arm(next)
		select {
		case <-ctx.Done():
			return nil
		case st, ok := <-ch:
			if !ok {
				if ch, err = m.rewatch(ctx); ch == nil {
					return err
				}
				continue
			}
			m.step(ctx, Input{Kind: InputStatus, Status: &st})
		case in := <-m.answers:
			m.step(ctx, in)
		case l, ok := <-leases:
			if !ok {
				leases = nil // watchLeases alerted; it no longer reports
				continue
			}
			m.step(ctx, Input{Kind: InputLease, Lease: l})
		case <-ticker.C:
			m.step(ctx, Input{Kind: InputTick})
		case <-next.C:
			m.step(ctx, Input{Kind: InputTick})
		}
	}
}

// LastStep returns when Run last stepped its engine (a status, an
// answer or a tick; it ticks at least every Config.TickInterval), on
// Config.Clock, or the zero time before the first step. A watchdog
// updater can kick only while it is recent, so a monitor whose loop hangs
// lets its server's watchdog expire. Safe to call concurrently.
func (m *Monitor) LastStep() time.Time {
	ns := m.lastStep.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// arm sets t to fire at the engine's next deadline.
func (m *Monitor) arm(t *time.Timer) {
	at := m.engine.Next()
	d := time.Hour
	if !at.IsZero() {
		d = max(at.Sub(m.cfg.Clock.Now()), 0)
	}
	t.Reset(d)
}

// rewatch watches again after the rack manager closed the stream. It
// returns a nil channel when ctx ended (nil error) or the watcher is
// refused.
func (m *Monitor) rewatch(ctx context.Context) (<-chan rack.Status, error) {
	m.publish(Event{Time: m.cfg.Clock.Now(), Type: EventAlert, Server: m.cfg.Server, Peer: m.cfg.Server,
		Message: "rack manager closed the status stream: not watching; reconnecting"})
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(backoff):
		}
		ch, err := m.cfg.Manager.Watch(ctx, m.cfg.Server)
		if err == nil {
			m.cfg.Logger.Info("failover: watching again", "server", m.cfg.Server)
			return ch, nil
		}
		if errors.Is(err, rack.ErrUnknownServer) {
			return nil, fmt.Errorf("failover: watch as %q: %w", m.cfg.Server, err)
		}
		m.cfg.Logger.Warn("failover: watch", "server", m.cfg.Server, "err", err, "retry_in", backoff)
		backoff = min(2*backoff, 30*time.Second)
	}
}

// step feeds one input and dispatches what follows.
func (m *Monitor) step(ctx context.Context, in Input) {
	in.Time = m.cfg.Clock.Now()
	m.lastStep.Store(in.Time.UnixNano())
	acts := m.engine.Step(in)
	phases := m.engine.Phases()
	m.mu.Lock()
	m.phases = phases
	m.mu.Unlock()
	for _, a := range acts {
		if a.Kind == ActionNotify {
			m.publish(a.Event)
			if a.Event.Type == EventWatchdogSeen {
				m.journalWatchdog(ctx, a.Event)
			}
			continue
		}
		go m.carryOut(ctx, a, m.answers)
	}
}

// carryOut runs one action and sends its answer back; a call that has not
// returned ActionTimeout plus a grace second later is abandoned.
func (m *Monitor) carryOut(ctx context.Context, a Action, answers chan<- Input) {
	done := make(chan Input, 1)
	go func() { done <- m.x.Do(ctx, a) }()
	giveUp := time.NewTimer(m.cfg.ActionTimeout + time.Second)
	defer giveUp.Stop()
	var in Input
	select {
	case in = <-done:
	case <-giveUp.C:
		in = Input{Kind: a.Kind.answer(), ID: a.ID, Err: Abandoned(a, fmt.Errorf("no answer within %v", m.cfg.ActionTimeout))}
		m.cfg.Logger.Warn("failover: call abandoned", "server", m.cfg.Server, "action", a.Kind.String(), "target", a.Server, "vm", a.Image.Name)
	case <-ctx.Done():
		return
	}
	select {
	case answers <- in:
	case <-ctx.Done():
	}
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
