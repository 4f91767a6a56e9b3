package rackelect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/rackha/failover/rack"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Config configures an Elector.
type Config struct {
	// Client reaches etcd. Required; the Elector does not close it.
	Client *clientv3.Client
	// Prefix of every key: Prefix+"leader/" holds the candidates,
	// Prefix+"intent/"+server the latest power intent per server. One
	// prefix per rack. Default "/failover/rack-manager/".
	Prefix string
	// Name is this replica's advertised URL (https://host:port), the
	// value of its leadership key: followers tell monitors to go there.
	// Required.
	Name string
	// TTL of the session lease that holds the leadership key: a leader
	// that stops renewing it (crashed, partitioned from etcd) is replaced
	// about TTL later. Whole seconds (etcd leases are in seconds).
	// Default 5 s.
	TTL time.Duration
	// TxnTimeout bounds each guarded transaction of a power action. A
	// leader that cannot reach etcd within it does not power. Default
	// 2 s.
	TxnTimeout time.Duration
	// InFlightHold: a new leader that finds, in its first read, a power
	// intent of an earlier leader without an outcome holds power actions
	// on that server until this long after it won, as that command may
	// still reach the BMC. Set it to the earlier leader's power timeout
	// (rack.LocalConfig.PowerTimeout). Default 60 s.
	InFlightHold time.Duration
	// Logger receives leadership changes. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config, without
// Client and Name.
func DefaultConfig() Config {
	return Config{
		Prefix:       "/failover/rack-manager/",
		TTL:          5 * time.Second,
		TxnTimeout:   2 * time.Second,
		InFlightHold: 60 * time.Second,
		Logger:       slog.Default(),
	}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Client == nil:
		return fmt.Errorf("%w: rackelect.Config.Client is nil", rack.ErrInvalidConfig)
	case c.Name == "":
		return fmt.Errorf("%w: rackelect.Config.Name is empty: want this replica's URL", rack.ErrInvalidConfig)
	case c.Prefix == "" || !strings.HasSuffix(c.Prefix, "/"):
		return fmt.Errorf("%w: rackelect.Config.Prefix %q: want a non-empty prefix ending in /", rack.ErrInvalidConfig, c.Prefix)
	case c.TTL < time.Second || c.TTL%time.Second != 0:
		return fmt.Errorf("%w: rackelect.Config.TTL %v: want whole seconds, at least 1s", rack.ErrInvalidConfig, c.TTL)
	case c.TxnTimeout <= 0:
		return fmt.Errorf("%w: rackelect.Config.TxnTimeout %v must be positive", rack.ErrInvalidConfig, c.TxnTimeout)
	case c.InFlightHold < 0:
		return fmt.Errorf("%w: rackelect.Config.InFlightHold %v must not be negative", rack.ErrInvalidConfig, c.InFlightHold)
	case c.Logger == nil:
		return fmt.Errorf("%w: rackelect.Config.Logger is nil", rack.ErrInvalidConfig)
	}
	return nil
}

// Elector campaigns for the rack manager's leadership; see the package
// doc. Safe for concurrent use.
type Elector struct {
	cfg     Config
	ctx     context.Context // until Close: sessions and observing
	stop    context.CancelFunc
	stopped chan struct{}

	mu      sync.Mutex
	session *concurrency.Session
	term    *Term                // the latest term won; ended or not
	leader  string               // the leader's Name as last observed
	held    map[string]time.Time // server -> power held until (first read)
}

// Term is one stretch of leadership, from Campaign's return until Done
// is closed.
type Term struct {
	// Key and Rev are the leadership key and its create revision: the
	// guard's If compares them.
	Key string
	Rev int64
	// Won is when Campaign returned (monotonic clock).
	Won time.Time

	done     chan struct{}
	doneOnce sync.Once
	election *concurrency.Election
}

// Done is closed when the term ends: its session expired or was
// closed, it resigned, or a guarded transaction found the key gone.
// Before Done closes the replica may still have lost the lead in etcd
// (a partition is seen only at the lease's end); the guard never relies
// on it.
func (t *Term) Done() <-chan struct{} { return t.done }

func (t *Term) end() { t.doneOnce.Do(func() { close(t.done) }) }

func (t *Term) ended() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// New fills cfg's unset fields (zero values) with their defaults, checks
// it and starts observing who leads. It does not campaign.
func New(cfg Config) (*Elector, error) {
	def := DefaultConfig()
	if cfg.Prefix == "" {
		cfg.Prefix = def.Prefix
	}
	if cfg.TTL == 0 {
		cfg.TTL = def.TTL
	}
	if cfg.TxnTimeout == 0 {
		cfg.TxnTimeout = def.TxnTimeout
	}
	if cfg.InFlightHold == 0 {
		cfg.InFlightHold = def.InFlightHold
	}
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	e := &Elector{cfg: cfg, ctx: ctx, stop: stop, stopped: make(chan struct{}), held: map[string]time.Time{}}
	go e.observe(ctx)
	return e, nil
}

func (e *Elector) electionPrefix() string { return e.cfg.Prefix + "leader" }

// Campaign blocks until this replica leads, or ctx ends. It returns the
// new term; call it again after the term's Done closes to lead again.
// Before returning it reads every power intent (the new leader's first
// read) and holds power on the servers an earlier leader may still be
// powering (Config.InFlightHold).
func (e *Elector) Campaign(ctx context.Context) (*Term, error) {
	retry := backoff{}
	for {
		s, err := e.liveSession(ctx)
		if err != nil {
			return nil, err
		}
		el := concurrency.NewElection(s, e.electionPrefix())
		if err := el.Campaign(ctx, e.cfg.Name); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("rackelect: campaign: %w", ctx.Err())
			}
			if e.cfg.Client.Ctx().Err() != nil {
				return nil, fmt.Errorf("rackelect: campaign: the etcd client is closed: %w", err)
			}
			e.cfg.Logger.Warn("rackelect: campaign failed; again", "err", err)
			if err := retry.wait(ctx); err != nil {
				return nil, err
			}
			continue
		}
		t := &Term{Key: el.Key(), Rev: el.Rev(), Won: time.Now(), done: make(chan struct{}), election: el}
		// Campaign may return after the session's lease expired (its key
		// then is gone): confirm the key is still this term's.
		ok, err := e.stillLeads(ctx, t)
		if err != nil || !ok {
			e.cfg.Logger.Warn("rackelect: elected, but the leadership key is gone; again", "key", t.Key, "err", err)
			if err := retry.wait(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if err := e.firstRead(ctx, t); err != nil {
			_ = el.Resign(context.WithoutCancel(ctx))
			return nil, err
		}
		e.mu.Lock()
		e.term, e.leader = t, e.cfg.Name
		e.mu.Unlock()
		go func() {
			select {
			case <-s.Done():
				e.cfg.Logger.Warn("rackelect: session ended: leadership lost", "key", t.Key)
			case <-t.done:
			}
			t.end()
		}()
		e.cfg.Logger.Info("rackelect: leading", "name", e.cfg.Name, "key", t.Key, "rev", t.Rev)
		return t, nil
	}
}

// liveSession returns the session, making a new one when there is none
// or it ended.
func (e *Elector) liveSession(ctx context.Context) (*concurrency.Session, error) {
	e.mu.Lock()
	s := e.session
	e.mu.Unlock()
	if s != nil {
		select {
		case <-s.Done():
		default:
			return s, nil
		}
	}
	retry := backoff{}
	for {
		s, err := e.newSession(ctx)
		if err == nil {
			e.mu.Lock()
			e.session = s
			e.mu.Unlock()
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rackelect: session: %w", ctx.Err())
		}
		if e.cfg.Client.Ctx().Err() != nil {
			return nil, fmt.Errorf("rackelect: session: the etcd client is closed: %w", err)
		}
		e.cfg.Logger.Warn("rackelect: no etcd session; again", "err", err)
		if err := retry.wait(ctx); err != nil {
			return nil, err
		}
	}
}

// newSession grants a lease within ctx and TxnTimeout, and keeps it
// alive until Close: not until ctx ends, which may be a caller's
// timeout.
func (e *Elector) newSession(ctx context.Context) (*concurrency.Session, error) {
	c, cancel := context.WithTimeout(ctx, e.cfg.TxnTimeout)
	defer cancel()
	lease, err := e.cfg.Client.Grant(c, int64(e.cfg.TTL/time.Second))
	if err != nil {
		return nil, err
	}
	s, err := concurrency.NewSession(e.cfg.Client, concurrency.WithLease(lease.ID),
		concurrency.WithTTL(int(e.cfg.TTL/time.Second)), concurrency.WithContext(e.ctx))
	if err != nil {
		_, _ = e.cfg.Client.Revoke(c, lease.ID)
		return nil, err
	}
	return s, nil
}

// backoff doubles a retry's delay from 100 ms to 2 s.
type backoff struct{ d time.Duration }

func (b *backoff) wait(ctx context.Context) error {
	b.d = min(max(2*b.d, 100*time.Millisecond), 2*time.Second)
	return sleep(ctx, b.d)
}

// stillLeads reads whether t's key exists with t's create revision.
func (e *Elector) stillLeads(ctx context.Context, t *Term) (bool, error) {
	c, cancel := context.WithTimeout(ctx, e.cfg.TxnTimeout)
	defer cancel()
	resp, err := e.cfg.Client.Get(c, t.Key)
	if err != nil {
		return false, err
	}
	return len(resp.Kvs) == 1 && resp.Kvs[0].CreateRevision == t.Rev, nil
}

// Resign ends the current term and deletes its key, so that another
// replica leads at once.
func (e *Elector) Resign(ctx context.Context) error {
	e.mu.Lock()
	t := e.term
	e.mu.Unlock()
	if t == nil || t.ended() {
		return nil
	}
	t.end()
	if err := t.election.Resign(ctx); err != nil {
		return fmt.Errorf("rackelect: resign: %w", err)
	}
	return nil
}

// IsLeader reports whether a term is running. It is this replica's own
// belief, which can outlive the lease by a partition's detection time;
// the power guard asks etcd instead.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	t := e.term
	e.mu.Unlock()
	return t != nil && !t.ended()
}

// Leader returns the leader's Name (its URL) as last observed in etcd,
// and false when no leader is known.
func (e *Elector) Leader() (string, bool) {
	if e.IsLeader() {
		return e.cfg.Name, true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leader == e.cfg.Name { // its own term ended; not yet observed who follows
		return "", false
	}
	return e.leader, e.leader != ""
}

// Close resigns, closes the session (revoking its lease) and stops
// observing. The Client stays open.
func (e *Elector) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.TxnTimeout)
	defer cancel()
	err := e.Resign(ctx)
	e.mu.Lock()
	s := e.session
	e.session = nil
	e.mu.Unlock()
	if s != nil {
		err = errors.Join(err, s.Close())
	}
	e.stop()
	<-e.stopped
	return err
}

// observe follows the leadership key with the lowest create revision
// (the leader) until ctx ends; a running term whose key is not the
// leader's ends.
func (e *Elector) observe(ctx context.Context) {
	defer close(e.stopped)
	for ctx.Err() == nil {
		gctx, gcancel := context.WithTimeout(ctx, e.cfg.TxnTimeout)
		resp, err := e.cfg.Client.Get(gctx, e.electionPrefix()+"/", clientv3.WithFirstCreate()...)
		gcancel()
		if err != nil {
			_ = sleep(ctx, 200*time.Millisecond)
			continue
		}
		name, key := "", ""
		if len(resp.Kvs) > 0 {
			name, key = string(resp.Kvs[0].Value), string(resp.Kvs[0].Key)
		}
		e.mu.Lock()
		e.leader = name
		t := e.term
		e.mu.Unlock()
		if t != nil && !t.ended() && key != "" && key != t.Key {
			e.cfg.Logger.Warn("rackelect: another replica leads: leadership lost", "leader", name)
			t.end()
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := e.cfg.Client.Watch(wctx, e.electionPrefix()+"/", clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			if wr.Err() != nil || len(wr.Events) > 0 {
				break
			}
		}
		cancel()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Lead campaigns and runs lead for each term won, with a context that
// ends with the term, until ctx ends. An error of lead ends Lead with it;
// lead returning nil while its term runs resigns and campaigns again.
func (e *Elector) Lead(ctx context.Context, lead func(context.Context) error) error {
	for {
		t, err := e.Campaign(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		tctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-t.Done():
			case <-tctx.Done():
			}
			cancel()
		}()
		err = lead(tctx)
		cancel()
		if err != nil {
			_ = e.Resign(context.WithoutCancel(ctx))
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if !t.ended() {
			_ = e.Resign(ctx)
		}
		e.cfg.Logger.Warn("rackelect: term ended; campaigning again", "name", e.cfg.Name)
	}
}
