package etcdlease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/rackha/failover"
	"github.com/rackha/failover/internal/etcdconn"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
)

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("failover: etcd lease store closed")

// Store is the lease store in etcd: the watcher side (failover.Leases and
// failover.WatchdogJournal) and, through Keeper, the host side. Create it
// with New; Close it when done. All methods are safe for concurrent use.
type Store struct {
	cfg       Config
	client    *clientv3.Client
	log       *slog.Logger
	ownClient bool
	// done ends with Close: watches stop, Keepers wake up and return.
	done      context.Context
	closeDone context.CancelFunc
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var (
	_ failover.Leases          = (*Store)(nil)
	_ failover.WatchdogJournal = (*Store)(nil)
)

// New returns a Store as cfg says. It does not contact etcd unless
// cfg.Username is set (the login).
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Peers = slices.Clone(cfg.Peers)
	s := &Store{cfg: cfg, client: cfg.Client, log: cfg.Logger}
	s.done, s.closeDone = context.WithCancel(context.Background())
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.client != nil {
		return s, nil
	}
	c, err := cfg.conn().Dial()
	if err != nil {
		return nil, fmt.Errorf("etcdlease: %w", err)
	}
	s.client, s.ownClient = c, true
	s.cfg.Password = "" // the client keeps it
	return s, nil
}

// String names the Store's endpoints and prefix, never credentials.
func (s *Store) String() string {
	return fmt.Sprintf("etcdlease.Store{Endpoints:%q Prefix:%q}", s.cfg.Endpoints, s.cfg.Prefix)
}

// GoString is String, so %#v shows no more.
func (s *Store) GoString() string { return s.String() }

// Format prints String under every verb, so no verb reaches the client
// (which holds the password) by reflection.
func (s *Store) Format(f fmt.State, verb rune) { etcdconn.Format(f, verb, s.String()) }

// Close closes the client New made (a Config.Client stays open); open
// watches end and Keepers' Run return. Calls after Close fail with
// ErrClosed; a second Close returns the first's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeDone()
		if s.ownClient {
			if err := s.client.Close(); err != nil {
				s.closeErr = fmt.Errorf("etcdlease: close client: %w", err)
			}
		}
	})
	return s.closeErr
}

// Keys, as the package doc lists them.
func (s *Store) leaseKey(server string) string    { return s.cfg.Prefix + "lease/" + server }
func (s *Store) takeoverKey(server string) string { return s.cfg.Prefix + "takeover/" + server }
func (s *Store) watchdogKey(server string) string { return s.cfg.Prefix + "watchdog/" + server }
func (s *Store) seenPrefix(watcher string) string { return s.cfg.Prefix + "seen/" + watcher + "/" }

func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// callContext bounds one call by RequestTimeout.
func (s *Store) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// readBackContext bounds a read-back after a lost answer: by
// RequestTimeout, even when ctx has ended (its values are kept).
func (s *Store) readBackContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
}

// refused reports whether err, the failure of a write sent to etcd, says
// for certain that etcd did not apply it (the server turned it down).
// Anything else (a deadline, a cancellation, a dropped connection, a lost
// leader) leaves the write possibly applied.
func refused(err error) bool {
	var etcdErr rpctypes.EtcdError
	if !errors.As(err, &etcdErr) {
		return false
	}
	switch etcdErr.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.NotFound,
		codes.AlreadyExists, codes.PermissionDenied, codes.Unauthenticated,
		codes.ResourceExhausted, codes.Unimplemented:
		return true
	}
	return false
}
