package etcdlease

import (
	"context"
	"errors"
	"fmt"

	"github.com/rackha/failover"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrTakenOver: the server's takeover is already recorded for another
// watcher; this one's Takeover changed nothing.
var ErrTakenOver = errors.New("failover: server already taken over by another watcher")

// Takeover records that watcher takes server over, in one transaction:
// if server's lease key is absent (and no takeover is recorded), write
// takeover/<server> = watcher. A lease key present gives an error wrapping
// failover.ErrLeaseHeld; a takeover recorded for another watcher,
// ErrTakenOver; one recorded for this watcher, nil. A call whose answer
// was lost reads the takeover key back: watcher's name there is nil, else
// the error wraps failover.ErrOutcomeUnknown (the write may still apply).
// It takes at most twice RequestTimeout.
func (s *Store) Takeover(ctx context.Context, server, watcher string) error {
	what := fmt.Sprintf("etcdlease: takeover of %q by %q", server, watcher)
	if err := firstErr(checkName(server), checkName(watcher)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	lk, tk := s.leaseKey(server), s.takeoverKey(server)
	c, cancel := s.callContext(ctx)
	resp, err := s.client.Txn(c).
		If(clientv3.Compare(clientv3.CreateRevision(lk), "=", 0), clientv3.Compare(clientv3.CreateRevision(tk), "=", 0)).
		Then(clientv3.OpPut(tk, watcher)).
		Else(clientv3.OpGet(lk, clientv3.WithKeysOnly()), clientv3.OpGet(tk)).
		Commit()
	cancel()
	if err != nil {
		if refused(err) {
			return fmt.Errorf("%s (key %q): %w", what, tk, err)
		}
		return s.readBack(ctx, what, tk, watcher, true, err)
	}
	if resp.Succeeded {
		return nil
	}
	if len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
		return fmt.Errorf("%s: key %q present: %w", what, lk, failover.ErrLeaseHeld)
	}
	kvs := resp.Responses[1].GetResponseRange().Kvs
	if len(kvs) > 0 && string(kvs[0].Value) == watcher {
		return nil
	}
	holder := ""
	if len(kvs) > 0 {
		holder = string(kvs[0].Value)
	}
	return fmt.Errorf("%s: key %q holds %q: %w", what, tk, holder, ErrTakenOver)
}

// Release removes watcher's takeover record of server, in one
// transaction: if takeover/<server> holds watcher, delete it. A record of
// another watcher, or none, is left alone and is not an error. A call
// whose answer was lost reads back: the record gone is nil, else the
// error wraps failover.ErrOutcomeUnknown.
func (s *Store) Release(ctx context.Context, server, watcher string) error {
	what := fmt.Sprintf("etcdlease: release of %q by %q", server, watcher)
	if err := firstErr(checkName(server), checkName(watcher)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	tk := s.takeoverKey(server)
	c, cancel := s.callContext(ctx)
	_, err := s.client.Txn(c).
		If(clientv3.Compare(clientv3.Value(tk), "=", watcher)).
		Then(clientv3.OpDelete(tk)).
		Commit()
	cancel()
	if err == nil {
		return nil
	}
	if refused(err) {
		return fmt.Errorf("%s (key %q): %w", what, tk, err)
	}
	return s.readBack(ctx, what, tk, watcher, false, err)
}

// readBack resolves a write of key whose answer was lost: done when key
// holds watcher (want true) or does not (want false).
func (s *Store) readBack(ctx context.Context, what, key, watcher string, want bool, cause error) error {
	c, cancel := s.readBackContext(ctx)
	defer cancel()
	resp, err := s.client.Get(c, key)
	if err != nil {
		return fmt.Errorf("%s (key %q): %w: the answer was lost (%w) and the read-back failed: %v",
			what, key, failover.ErrOutcomeUnknown, cause, err)
	}
	holds := len(resp.Kvs) > 0 && string(resp.Kvs[0].Value) == watcher
	if holds == want {
		return nil
	}
	return fmt.Errorf("%s (key %q): %w: the answer was lost (%w) and the read-back does not show it applied; it may still apply",
		what, key, failover.ErrOutcomeUnknown, cause)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
