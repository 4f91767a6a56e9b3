// Package memlease is an in-memory lease store for tests: it implements
// failover.Leases and failover.WatchdogJournal the way lease/etcdlease
// does against etcd, with the servers' side (Hold, Expire, Declare) driven
// by the test instead of by keepers and TTLs. A lease ends only when the
// test calls Expire. Every method is safe for concurrent use.
package memlease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/watchdog"
)

// ErrTakenOver: a server cannot take a lease while a takeover of it is
// recorded.
var ErrTakenOver = errors.New("memlease: server taken over by lease; waiting for release")

// Store is the in-memory lease store. The zero value is not usable; call New.
type Store struct {
	mu       sync.Mutex
	leases   map[string]failover.Lease
	takenBy  map[string]string
	journal  map[string]map[string]watchdog.State
	watchers []*sub
}

type sub struct {
	watcher string
	ch      chan failover.Lease
}

// New returns an empty store.
func New() *Store {
	return &Store{leases: map[string]failover.Lease{}, takenBy: map[string]string{}, journal: map[string]map[string]watchdog.State{}}
}

// Hold gives server a live lease of ttl, as its keeper does; ErrTakenOver
// while a takeover of it is recorded.
func (s *Store) Hold(server string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if by := s.takenBy[server]; by != "" {
		return fmt.Errorf("%w: %s by %s", ErrTakenOver, server, by)
	}
	l := s.leases[server]
	l.Server, l.Held, l.TTL = server, true, ttl
	s.setLocked(l)
	return nil
}

// Expire ends server's lease, as etcd does after its TTL without renewal.
func (s *Store) Expire(server string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.leases[server]
	l.Server, l.Held = server, false
	s.setLocked(l)
}

// Declare records server's own word on its watchdog: armed, or disarmed
// by a clean stop.
func (s *Store) Declare(server string, armed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.leases[server]
	l.Server, l.Disarmed = server, !armed
	s.setLocked(l)
}

// TakenBy returns the watcher whose takeover of server is recorded, or "".
func (s *Store) TakenBy(server string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takenBy[server]
}

func (s *Store) setLocked(l failover.Lease) {
	s.leases[l.Server] = l
	for _, w := range s.watchers {
		if w.watcher == l.Server {
			continue
		}
		select {
		case w.ch <- l:
		default: // a watcher that does not read loses reports, as a broken watch does
		}
	}
}

// Watch reports every lease but watcher's own, then each change, until
// ctx ends. Reports that find the channel full are dropped.
func (s *Store) Watch(ctx context.Context, watcher string) (<-chan failover.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan failover.Lease, 64+len(s.leases))
	names := make([]string, 0, len(s.leases))
	for n := range s.leases {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if n != watcher {
			ch <- s.leases[n]
		}
	}
	w := &sub{watcher: watcher, ch: ch}
	s.watchers = append(s.watchers, w)
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.watchers = slices.DeleteFunc(s.watchers, func(x *sub) bool { return x == w })
		close(ch)
	}()
	return ch, nil
}

// Takeover records watcher's takeover of server unless server holds its
// lease (failover.ErrLeaseHeld) or another watcher's is recorded.
func (s *Store) Takeover(_ context.Context, server, watcher string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases[server].Held {
		return fmt.Errorf("memlease: takeover of %s: %w", server, failover.ErrLeaseHeld)
	}
	if by := s.takenBy[server]; by != "" && by != watcher {
		return fmt.Errorf("memlease: takeover of %s: already recorded by %s", server, by)
	}
	s.takenBy[server] = watcher
	return nil
}

// Release removes watcher's takeover record of server, if there is one.
func (s *Store) Release(_ context.Context, server, watcher string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.takenBy[server] == watcher {
		delete(s.takenBy, server)
	}
	return nil
}

// SaveWatchdog journals what watcher saw of server's watchdog.
func (s *Store) SaveWatchdog(_ context.Context, watcher, server string, st watchdog.State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal[watcher] == nil {
		s.journal[watcher] = map[string]watchdog.State{}
	}
	s.journal[watcher][server] = st
	return nil
}

// LoadWatchdogs returns what watcher journaled.
func (s *Store) LoadWatchdogs(_ context.Context, watcher string) (map[string]watchdog.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]watchdog.State{}
	for k, v := range s.journal[watcher] {
		out[k] = v
	}
	return out, nil
}

var (
	_ failover.Leases          = (*Store)(nil)
	_ failover.WatchdogJournal = (*Store)(nil)
)
