package rack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// Server is one server of the rack as its BMC shows it. Any role but Power
// may be nil: the status then leaves that part out (and the watching
// engine cannot detect what it would have shown). Without Power the server
// cannot be fenced, so its VMs are never taken over.
type Server struct {
	Name     string
	Sensors  sensor.Source
	Health   bmc.HealthReader
	Watchdog watchdog.Watchdog
	Power    bmc.Power
}

// LocalConfig configures an in-process rack manager.
type LocalConfig struct {
	// Topology says who watches whom. Required.
	Topology Topology
	// Servers of the rack; each must appear in Topology. Required.
	Servers []Server
	// Interval between full polls of every server in Run. Default 1 s:
	// with three-poll debounce a failure is acted on within about 3 s.
	Interval time.Duration
	// FastInterval between fast polls in Run, which read only Health
	// (power state and fault bits: Get Chassis Status and Get SEL Info on
	// IPMI, one GET of the ComputerSystem on Redfish; PowerState alone
	// without a HealthReader). Default 250 ms: a power loss or a fault
	// bit reaches the watcher up to four times sooner than at Interval,
	// for a few small requests per BMC a second instead of a full
	// sensor read. Negative turns the fast poll off; 0 in a config given
	// to NewLocal means the default. A FastInterval not shorter than
	// Interval only adds reads.
	FastInterval time.Duration
	// CallTimeout bounds each read of one BMC. Default 2 s, so one slow
	// BMC cannot stall a round for long.
	CallTimeout time.Duration
	// PowerTimeout bounds each power operation including its read-back.
	// Default 60 s: real BMCs take tens of seconds to confirm power off.
	PowerTimeout time.Duration
	// JournalSize is how many statuses each server's Journal keeps.
	// Default 512: over 8 minutes at the default interval (fast statuses
	// are journaled only when they differ, so they do not shorten it).
	JournalSize int
	// Parallel is how many servers are read at once in a round. Default
	// 16. 1 reads them in order, which deterministic simulations use.
	Parallel int
	// StormWindow is how far back a server seen failed still counts in
	// Status.RackFailed. Default 30 s: a PDU or switch outage takes its
	// servers down within seconds, but their failures are seen over
	// several polls, BMC timeouts and watchdog timeouts; 30 s gathers
	// them into one storm while independent failures minutes apart do
	// not add up.
	StormWindow time.Duration
	// HandoverAfter is how long a watcher may be gone (no Watch open) or
	// failed before the servers it watched are delivered to the next live
	// server. Default 10 s: longer than a monitor's restart, so a restart
	// does not move the watching, and short next to the takeover it
	// enables.
	HandoverAfter time.Duration
	// Now gives the time stamped on statuses; the storm guard and the
	// hand-over follow it, never the wall clock. Default time.Now.
	Now func() time.Time
	// Logger receives collection failures and hand-overs. Default
	// slog.Default().
	Logger *slog.Logger
}

// DefaultLocalConfig returns the defaults documented on LocalConfig, with
// no servers.
func DefaultLocalConfig() LocalConfig {
	return LocalConfig{
		Interval:      time.Second,
		FastInterval:  250 * time.Millisecond,
		CallTimeout:   2 * time.Second,
		PowerTimeout:  60 * time.Second,
		JournalSize:   512,
		Parallel:      16,
		StormWindow:   30 * time.Second,
		HandoverAfter: 10 * time.Second,
		Now:           time.Now,
		Logger:        slog.Default(),
	}
}

// Validate names the first field that is wrong.
func (c LocalConfig) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("%w: LocalConfig.Interval %v must be positive", ErrInvalidConfig, c.Interval)
	case c.FastInterval == 0:
		return fmt.Errorf("%w: LocalConfig.FastInterval %v must be positive, or negative for no fast poll", ErrInvalidConfig, c.FastInterval)
	case c.CallTimeout <= 0:
		return fmt.Errorf("%w: LocalConfig.CallTimeout %v must be positive", ErrInvalidConfig, c.CallTimeout)
	case c.PowerTimeout <= 0:
		return fmt.Errorf("%w: LocalConfig.PowerTimeout %v must be positive", ErrInvalidConfig, c.PowerTimeout)
	case c.JournalSize < 1:
		return fmt.Errorf("%w: LocalConfig.JournalSize %d must be at least 1", ErrInvalidConfig, c.JournalSize)
	case c.Parallel < 1:
		return fmt.Errorf("%w: LocalConfig.Parallel %d must be at least 1", ErrInvalidConfig, c.Parallel)
	case c.StormWindow <= 0:
		return fmt.Errorf("%w: LocalConfig.StormWindow %v must be positive", ErrInvalidConfig, c.StormWindow)
	case c.HandoverAfter <= 0:
		return fmt.Errorf("%w: LocalConfig.HandoverAfter %v must be positive", ErrInvalidConfig, c.HandoverAfter)
	case c.Now == nil:
		return fmt.Errorf("%w: LocalConfig.Now is nil", ErrInvalidConfig)
	case c.Logger == nil:
		return fmt.Errorf("%w: LocalConfig.Logger is nil", ErrInvalidConfig)
	case len(c.Servers) == 0:
		return fmt.Errorf("%w: LocalConfig.Servers is empty", ErrInvalidConfig)
	}
	inTopo := map[string]bool{}
	for _, s := range c.Topology.Servers() {
		inTopo[s] = true
	}
	seen := map[string]bool{}
	for i, s := range c.Servers {
		switch {
		case s.Name == "":
			return fmt.Errorf("%w: LocalConfig.Servers[%d].Name is empty", ErrInvalidConfig, i)
		case seen[s.Name]:
			return fmt.Errorf("%w: LocalConfig.Servers[%d].Name %q named twice", ErrInvalidConfig, i, s.Name)
		case !inTopo[s.Name]:
			return fmt.Errorf("%w: LocalConfig.Servers[%d].Name %q is not in Topology", ErrInvalidConfig, i, s.Name)
		}
		seen[s.Name] = true
	}
	for s := range inTopo {
		if !seen[s] {
			return fmt.Errorf("%w: LocalConfig.Topology names server %q that has no Servers entry", ErrInvalidConfig, s)
		}
	}
	return nil
}

// Local is the in-process rack manager. Safe for concurrent use (see the
// package doc for the ordering it guarantees).
type Local struct {
	cfg      LocalConfig
	servers  map[string]Server
	journals map[string]*Journal
	reading  map[string]*sync.Mutex // held across one server's read, journal append and delivery

	mu      sync.Mutex // guards what follows; taken after a reading lock, never before
	subs    map[*subscription]struct{}
	state   map[string]*serverState
	watched bool // a Watch was opened once: the hand-over is on
}

type subscription struct {
	watcher string
	ch      chan Status
}

// NewLocal checks cfg, fills unset optional fields with their defaults,
// and returns a rack manager. Fields the caller set are kept as given.
func NewLocal(cfg LocalConfig) (*Local, error) {
	def := DefaultLocalConfig()
	if cfg.Interval == 0 {
		cfg.Interval = def.Interval
	}
	if cfg.FastInterval == 0 {
		cfg.FastInterval = def.FastInterval
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = def.CallTimeout
	}
	if cfg.PowerTimeout == 0 {
		cfg.PowerTimeout = def.PowerTimeout
	}
	if cfg.JournalSize == 0 {
		cfg.JournalSize = def.JournalSize
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = def.Parallel
	}
	if cfg.StormWindow == 0 {
		cfg.StormWindow = def.StormWindow
	}
	if cfg.HandoverAfter == 0 {
		cfg.HandoverAfter = def.HandoverAfter
	}
	if cfg.Now == nil {
		cfg.Now = def.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Local{
		cfg:      cfg,
		servers:  map[string]Server{},
		journals: map[string]*Journal{},
		reading:  map[string]*sync.Mutex{},
		subs:     map[*subscription]struct{}{},
		state:    map[string]*serverState{},
	}
	for _, s := range cfg.Servers {
		l.servers[s.Name] = s
		l.journals[s.Name] = NewJournal(cfg.JournalSize)
		l.reading[s.Name] = new(sync.Mutex)
		l.state[s.Name] = &serverState{watcher: cfg.Topology.WatcherOf(s.Name)}
	}
	return l, nil
}

// Journal returns server's journal, or nil for an unknown server.
func (l *Local) Journal(server string) *Journal { return l.journals[server] }

// Config returns the configuration in effect: the caller's, with its
// unset optional fields filled by NewLocal.
func (l *Local) Config() LocalConfig {
	c := l.cfg
	c.Servers = slices.Clone(c.Servers)
	return c
}

// Topology returns the rack's topology.
func (l *Local) Topology() Topology { return l.cfg.Topology }

// Run polls every server each Interval and, unless FastInterval is
// negative, reads every server's health each FastInterval; it journals
// the statuses and delivers them to their watchers, until ctx ends. A
// server whose Health (or Sensors) implements bmc.EventSource is also read
// at once after each of its events; events that arrive while such a read
// runs are folded into one more read.
func (l *Local) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, s := range l.cfg.Servers {
		src, ok := s.Health.(bmc.EventSource)
		if !ok {
			src, ok = s.Sensors.(bmc.EventSource)
		}
		if !ok {
			continue
		}
		events, err := src.Events(ctx)
		if err != nil {
			l.cfg.Logger.Warn("rack: no event stream; polling only", "server", s.Name, "err", err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.followEvents(ctx, s.Name, events)
		}()
	}
	if l.cfg.FastInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.runFast(ctx)
		}()
	}
	t := time.NewTicker(l.cfg.Interval)
	defer t.Stop()
	for {
		l.Poll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// followEvents reads server's status after each event until the stream
// closes.
func (l *Local) followEvents(ctx context.Context, server string, events <-chan bmc.Event) {
	for range events {
		for len(events) > 0 { // fold a burst into one read
			<-events
		}
		if ctx.Err() != nil {
			return
		}
		if _, err := l.PollServer(ctx, server); err != nil {
			l.cfg.Logger.Warn("rack: read after event", "server", server, "err", err)
		}
	}
}

// Poll reads every server once, journals each status, delivers it to the
// server's watcher and returns the statuses in configuration order.
func (l *Local) Poll(ctx context.Context) []Status {
	out := make([]Status, len(l.cfg.Servers))
	l.each(func(i int, s Server) {
		out[i], _ = l.collect(ctx, s, false, true)
	})
	return out
}

// PollServer reads one server once, journals and delivers its status.
func (l *Local) PollServer(ctx context.Context, server string) (Status, error) {
	s, ok := l.servers[server]
	if !ok {
		return Status{}, fmt.Errorf("%w: %q", ErrUnknownServer, server)
	}
	st, _ := l.collect(ctx, s, false, true)
	return st, nil
}

// each calls f for every server, Parallel at a time; with Parallel 1 in
// configuration order.
func (l *Local) each(f func(i int, s Server)) {
	if l.cfg.Parallel == 1 {
		for i, s := range l.cfg.Servers {
			f(i, s)
		}
		return
	}
	sem := make(chan struct{}, l.cfg.Parallel)
	var wg sync.WaitGroup
	for i, s := range l.cfg.Servers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			f(i, s)
			<-sem
		}()
	}
	wg.Wait()
}

// collect reads s (only its health when fast), then records the status,
// all under s's reading lock so that its statuses are recorded in the
// order they were read. Unless wait, it gives up at once (ok false) when
// s is being read; a read ctx ended records nothing (ok false).
func (l *Local) collect(ctx context.Context, s Server, fast, wait bool) (st Status, ok bool) {
	lock := l.reading[s.Name]
	if wait {
		lock.Lock()
	} else if !lock.TryLock() {
		return Status{}, false
	}
	defer lock.Unlock()
	st = l.read(ctx, s, fast)
	if ctx.Err() != nil {
		// Cut short by the rack manager's own stop: it says nothing of
		// the BMC, so it is neither journaled nor delivered.
		return st, false
	}
	l.record(&st)
	return st, true
}

func (l *Local) read(ctx context.Context, s Server, fast bool) Status {
	st := Status{Server: s.Name, Time: l.cfg.Now(), Fast: fast}
	var answered, unreachable int
	note := func(err error) string {
		if err == nil {
			answered++
			return ""
		}
		if errors.Is(err, bmc.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
			unreachable++
		} else {
			answered++ // the BMC answered, with an error
		}
		return err.Error()
	}
	call := func(f func(context.Context) error) error {
		c, cancel := context.WithTimeout(ctx, l.cfg.CallTimeout)
		defer cancel()
		return f(c)
	}
	if s.Health != nil {
		st.HealthErr = note(call(func(c context.Context) (err error) { st.Health, err = s.Health.Health(c); return }))
	} else if s.Power != nil {
		st.HealthErr = note(call(func(c context.Context) (err error) { st.Health.Power, err = s.Power.PowerState(c); return }))
	}
	if s.Sensors != nil && !fast {
		st.ReadingsErr = note(call(func(c context.Context) (err error) { st.Readings, err = s.Sensors.Readings(c); return }))
		for i := range st.Readings {
			if err := st.Readings[i].Validate(); err != nil {
				// An impossible value is no evidence either way.
				st.Readings[i].Status = sensor.StatusUnavailable
				st.Readings[i].Value = 0
				l.cfg.Logger.Warn("rack: invalid reading ignored", "server", s.Name, "err", err)
			}
		}
	}
	if s.Watchdog != nil && !fast {
		err := call(func(c context.Context) (err error) { st.Watchdog, err = s.Watchdog.State(c); return })
		if errors.Is(err, bmc.ErrNotOffered) {
			// As a server without a watchdog: no error, nothing known.
			answered++
		} else {
			st.WatchdogErr = note(err)
			st.WatchdogKnown = st.WatchdogErr == ""
		}
	}
	st.Reachable = answered > 0 || unreachable == 0
	if !st.Reachable {
		st.Err = fmt.Sprintf("%v: %s", bmc.ErrUnreachable, firstNonEmpty(st.HealthErr, st.ReadingsErr, st.WatchdogErr))
	}
	return st
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// record stamps the storm guard's input on st, moves the watching of
// st.Server if its watcher is gone, journals st (a fast status only when
// it says something new) and delivers it. Called under st.Server's
// reading lock.
func (l *Local) record(st *Status) {
	l.mu.Lock()
	l.noteFailure(st)
	l.updateLiveness(st.Server, st.Time)
	m := l.assignWatcher(st.Server, st.Time)
	j := l.journals[st.Server]
	if last, ok := j.Last(); !st.Fast || !ok || news(last, *st) {
		j.Append(*st)
	}
	l.deliverLocked(*st)
	l.mu.Unlock()
	l.logMove(m)
}

// deliverLocked sends st to every subscription of st.Server's current
// watcher. Called with l.mu held.
func (l *Local) deliverLocked(st Status) {
	watcher := l.state[st.Server].watcher
	for sub := range l.subs {
		if sub.watcher != watcher {
			continue
		}
		select {
		case sub.ch <- st:
		default: // full: drop the oldest, keep the newest
			select {
			case <-sub.ch:
			default:
			}
			select {
			case sub.ch <- st:
			default:
			}
		}
	}
}

// Watch implements Manager: it delivers the statuses of the servers
// watcher watches now (its own in the topology, and any handed over to
// it; see WatcherOf). The buffer holds four statuses per server of the
// rack. An open Watch is half of what makes watcher live for the
// hand-over; the other half is its own latest status not being failed.
func (l *Local) Watch(ctx context.Context, watcher string) (<-chan Status, error) {
	if _, ok := l.servers[watcher]; !ok {
		return nil, fmt.Errorf("%w: watcher %q", ErrUnknownServer, watcher)
	}
	sub := &subscription{watcher: watcher, ch: make(chan Status, 4*len(l.cfg.Servers)+4)}
	l.mu.Lock()
	l.subs[sub] = struct{}{}
	l.state[watcher].subs++
	l.startHandover(l.cfg.Now())
	l.updateLiveness(watcher, l.cfg.Now())
	l.mu.Unlock()
	go func() {
		<-ctx.Done()
		l.mu.Lock()
		delete(l.subs, sub)
		close(sub.ch)
		l.state[watcher].subs--
		l.updateLiveness(watcher, l.cfg.Now())
		l.mu.Unlock()
	}()
	return sub.ch, nil
}

// Power implements Manager: it carries out action on server's BMC within
// PowerTimeout; the BMC adapter confirms it by read-back. Local trusts its
// caller; a network rack manager checks MayPower for the authenticated
// watcher first.
func (l *Local) Power(ctx context.Context, server string, action bmc.PowerAction) error {
	s, ok := l.servers[server]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownServer, server)
	}
	if s.Power == nil {
		return fmt.Errorf("rack: power %s %q: %w", action, server, bmc.ErrUnsupported)
	}
	c, cancel := context.WithTimeout(ctx, l.cfg.PowerTimeout)
	defer cancel()
	if err := s.Power.SetPower(c, action); err != nil {
		return fmt.Errorf("rack: power %s %q: %w", action, server, err)
	}
	return nil
}
