package etcdlease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrNotAlive: the host's lease is not alive by its own clock, so it must
// not kick its watchdog. The error says why.
var ErrNotAlive = errors.New("failover: lease not alive")

// ErrRunning: Keeper.Run was called while already running.
var ErrRunning = errors.New("failover: keeper already running")

// Keeper takes and keeps one server's lease, on that server. Make it with
// Store.Keeper; Run it once at a time. Alive, Held and DeclareWatchdog
// are safe to call from any goroutine, also while Run runs.
type Keeper struct {
	s       *Store
	server  string
	nameErr error
	held    chan struct{}
	once    sync.Once
	running atomic.Bool

	// Times on the host's clock (hostNow): monotonic and, on Linux,
	// counting time suspended, as the BMC's watchdog does.
	mu         sync.Mutex
	aliveUntil time.Duration // zero: not alive
	lastSent   time.Duration // send time of the last answered grant or renewal
	why        string        // why not alive, when aliveUntil is zero
	state      string        // last state logged
}

// Keeper returns the keeper of server's lease. One per server: two would
// take the key from each other.
func (s *Store) Keeper(server string) *Keeper {
	return &Keeper{s: s, server: server, nameErr: checkName(server), held: make(chan struct{}), why: "no lease taken yet"}
}

// Held is closed once the keeper first holds its lease (startup waits on
// it before arming the watchdog).
func (k *Keeper) Held() <-chan struct{} { return k.held }

// Alive reports whether this host may kick its watchdog now: it holds its
// lease, and by its own monotonic clock it is before the send time of its
// last answered renewal plus the TTL answered. If not, it says why. On
// Linux the clock is CLOCK_BOOTTIME, which counts time suspended (Go's
// monotonic clock does not; the watchdog does).
func (k *Keeper) Alive() (bool, string) {
	_, ok, why := k.deadline()
	return ok, why
}

// deadline returns for how much longer the lease is alive by this host's
// clock.
func (k *Keeper) deadline() (time.Duration, bool, string) {
	if k == nil {
		return 0, false, "no keeper"
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.aliveUntil == 0 {
		return 0, false, k.why
	}
	now, ok := hostNow()
	if !ok {
		return 0, false, "the host's clock cannot be read"
	}
	if now < k.aliveUntil {
		return k.aliveUntil - now, true, ""
	}
	return 0, false, fmt.Sprintf("no renewal answered since one sent %v ago: the lease ran out by this host's clock %v ago",
		(now - k.lastSent).Round(time.Millisecond), (now - k.aliveUntil).Round(time.Millisecond))
}

// extend makes the lease alive until sent + ttl (never earlier than it
// already is).
func (k *Keeper) extend(sent, ttl time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if until := sent + ttl; until > k.aliveUntil {
		k.aliveUntil, k.lastSent = until, sent
	}
}

// lose makes the lease dead at once, saying why.
func (k *Keeper) lose(why string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.aliveUntil, k.why = 0, why
}

// note logs a state once, when it changes.
func (k *Keeper) note(state string, args ...any) {
	k.mu.Lock()
	same := k.state == state
	k.state = state
	k.mu.Unlock()
	if !same {
		k.s.log.Warn("etcdlease: "+state, append([]any{"server", k.server}, args...)...)
	}
}

// lease is the keeper's current etcd lease.
type lease struct {
	id       clientv3.LeaseID // 0: none
	ttl      time.Duration    // as granted
	attached bool             // the lease key is on it, as last checked
	// takenOver: the last try found a takeover recorded; the next reads
	// the record before granting a lease again.
	takenOver bool
}

// Run takes the server's lease and keeps it until ctx ends, then revokes
// it (watchers see it gone at once; the revoke waits at most
// RequestTimeout) and returns nil. It takes the lease
// with a transaction, If(no takeover recorded) Then put the lease key on
// a new etcd lease; while a takeover is recorded it waits (Alive false)
// and tries again every TTL/3. It renews every TTL/3 (KeepAliveOnce, then
// a check that the lease key is still on the lease), and takes a new
// lease when etcd no longer knows the old one. Errors of etcd are logged
// and retried; Run returns an error only for a bad server name, a second
// Run at once, or a closed Store.
func (k *Keeper) Run(ctx context.Context) error {
	if k.nameErr != nil {
		return fmt.Errorf("etcdlease: keeper of %q: %w", k.server, k.nameErr)
	}
	if !k.running.CompareAndSwap(false, true) {
		return fmt.Errorf("etcdlease: keeper of %q: %w", k.server, ErrRunning)
	}
	defer k.running.Store(false)
	var l lease
	defer func() { k.stop(ctx, l.id) }()
	for {
		if err := k.s.usable(ctx); err != nil {
			if errors.Is(err, ErrClosed) {
				return fmt.Errorf("etcdlease: keeper of %q: %w", k.server, err)
			}
			return nil
		}
		var wait time.Duration
		if l.attached {
			wait = k.renew(ctx, &l)
		} else {
			wait = k.take(ctx, &l)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-k.s.done.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}
}

// interval is the time between renewals, and between tries to take.
func (k *Keeper) interval(l *lease) time.Duration {
	ttl := l.ttl
	if ttl <= 0 {
		ttl = k.s.cfg.TTL
	}
	return ttl / 3
}

// take grants a lease if there is none and puts the lease key on it,
// unless a takeover is recorded. It returns how long to wait.
func (k *Keeper) take(ctx context.Context, l *lease) time.Duration {
	iv := k.interval(l)
	lk, tk := k.s.leaseKey(k.server), k.s.takeoverKey(k.server)
	if l.takenOver {
		c, cancel := k.s.callContext(ctx)
		resp, err := k.s.client.Get(c, tk)
		cancel()
		if err != nil || len(resp.Kvs) > 0 {
			return iv
		}
		l.takenOver = false
	}
	if l.id == 0 {
		sent, ok := hostNow()
		if !ok {
			k.note("the host's clock cannot be read: no lease taken")
			return iv
		}
		c, cancel := k.s.callContext(ctx)
		resp, err := k.s.client.Grant(c, int64(k.s.cfg.TTL/time.Second))
		cancel()
		if err != nil {
			k.note("no lease: grant failed; retrying", "err", err, "retry_in", iv)
			return iv
		}
		*l = lease{id: resp.ID, ttl: time.Duration(resp.TTL) * time.Second}
		iv = k.interval(l)
		k.mu.Lock()
		k.lastSent = sent
		k.mu.Unlock()
	}
	c, cancel := k.s.callContext(ctx)
	resp, err := k.s.client.Txn(c).
		If(clientv3.Compare(clientv3.CreateRevision(tk), "=", 0)).
		Then(clientv3.OpPut(lk, string(encodeLease(l.ttl)), clientv3.WithLease(l.id))).
		Else(clientv3.OpGet(tk)).
		Commit()
	cancel()
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		k.note("no lease: it ran out before its key was put; taking a new one")
		l.id = 0
		return 0
	case err != nil:
		k.note("no lease: putting the lease key failed; retrying", "key", lk, "err", err, "retry_in", iv/2)
		return iv / 2
	case !resp.Succeeded:
		by := ""
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			by = string(kvs[0].Value)
		}
		why := fmt.Sprintf("taken over by %q (key %q): waiting for its release", by, tk)
		k.lose(why)
		k.note("server was "+why, "retry_in", iv)
		k.revoke(ctx, l.id)
		*l = lease{takenOver: true}
		return iv
	}
	k.mu.Lock()
	sent := k.lastSent
	k.mu.Unlock()
	l.attached = true
	k.extend(sent, l.ttl)
	k.once.Do(func() { close(k.held) })
	k.s.log.Info("etcdlease: lease held", "server", k.server, "key", lk, "ttl", l.ttl)
	k.mu.Lock()
	k.state = ""
	k.mu.Unlock()
	return iv
}

// renew renews the lease once and checks its key is still on it; only
// then is the lease alive until the renewal's send time plus the TTL
// answered. It returns how long to wait.
func (k *Keeper) renew(ctx context.Context, l *lease) time.Duration {
	iv := k.interval(l)
	sent, clockOK := hostNow()
	c, cancel := context.WithTimeout(ctx, min(k.s.cfg.RequestTimeout, iv))
	resp, err := k.s.client.KeepAliveOnce(c, l.id)
	cancel()
	if errors.Is(err, rpctypes.ErrLeaseNotFound) || (err == nil && resp.TTL <= 0) {
		k.lose("the lease ran out or was revoked in etcd: taking a new one")
		k.note("lease lost in etcd; taking a new one")
		*l = lease{}
		return 0
	}
	if err != nil {
		if ctx.Err() == nil {
			k.note("renewal failed; retrying (alive until the last answered renewal's send time + TTL)", "err", err)
		}
		return iv / 3
	}
	lk := k.s.leaseKey(k.server)
	c, cancel = context.WithTimeout(ctx, min(k.s.cfg.RequestTimeout, iv))
	tresp, err := k.s.client.Txn(c).If(clientv3.Compare(clientv3.LeaseValue(lk), "=", l.id)).Commit()
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			k.note("renewal check failed; retrying", "key", lk, "err", err)
		}
		return iv / 3
	}
	if !tresp.Succeeded {
		k.lose(fmt.Sprintf("the lease key %q is no longer on this host's lease: putting it again", lk))
		k.note("lease key lost; putting it again", "key", lk)
		l.attached = false
		return 0
	}
	if !clockOK {
		k.note("the host's clock cannot be read: the lease is not alive")
		return iv / 3
	}
	k.extend(sent, time.Duration(resp.TTL)*time.Second)
	k.mu.Lock()
	k.state = ""
	k.mu.Unlock()
	if now, ok := hostNow(); ok {
		return max(0, sent+iv-now)
	}
	return iv
}

// stop ends the lease when Run returns: dead at once, then revoked.
func (k *Keeper) stop(ctx context.Context, id clientv3.LeaseID) {
	k.lose("stopped")
	k.revoke(ctx, id)
}

// revoke revokes a lease, even when ctx has ended.
func (k *Keeper) revoke(ctx context.Context, id clientv3.LeaseID) {
	if id == 0 || k.s.closed.Load() {
		return
	}
	c, cancel := k.s.readBackContext(ctx)
	defer cancel()
	if _, err := k.s.client.Revoke(c, id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		k.s.log.Warn("etcdlease: revoke lease failed; it runs out after its TTL", "server", k.server, "err", err)
	}
}

// DeclareWatchdog writes the server's declaration, watchdog/<server> =
// "armed" or "disarmed", persistent. A write whose answer was lost reads
// back: the declaration there is nil, else the error wraps
// failover.ErrOutcomeUnknown.
func (k *Keeper) DeclareWatchdog(ctx context.Context, armed bool) error {
	decl := declDisarmed
	if armed {
		decl = declArmed
	}
	what := fmt.Sprintf("etcdlease: declare the watchdog of %q %s", k.server, decl)
	if k.nameErr != nil {
		return fmt.Errorf("%s: %w", what, k.nameErr)
	}
	if err := k.s.usable(ctx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	key := k.s.watchdogKey(k.server)
	c, cancel := k.s.callContext(ctx)
	_, err := k.s.client.Put(c, key, decl)
	cancel()
	if err == nil {
		return nil
	}
	if refused(err) {
		return fmt.Errorf("%s (key %q): %w", what, key, err)
	}
	return k.s.readBack(ctx, what, key, decl, true, err)
}
