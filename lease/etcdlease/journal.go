package etcdlease

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rackha/failover/watchdog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// SaveWatchdog journals what watcher last saw of server's watchdog, at
// seen/<watcher>/<server>. A write whose answer was lost is an error
// (the Monitor saves again on the next change).
func (s *Store) SaveWatchdog(ctx context.Context, watcher, server string, st watchdog.State) error {
	what := fmt.Sprintf("etcdlease: journal watchdog of %q for %q", server, watcher)
	if err := firstErr(checkName(watcher), checkName(server)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := s.usable(ctx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	key := s.seenPrefix(watcher) + server
	c, cancel := s.callContext(ctx)
	defer cancel()
	if _, err := s.client.Put(c, key, string(encodeSeen(st))); err != nil {
		return fmt.Errorf("%s (key %q): %w", what, key, err)
	}
	return nil
}

// LoadWatchdogs returns watcher's journal, by server. A value that does
// not decode is left out, and the error (wrapping ErrCorrupt) names its
// key; the map then holds the rest.
func (s *Store) LoadWatchdogs(ctx context.Context, watcher string) (map[string]watchdog.State, error) {
	what := fmt.Sprintf("etcdlease: load the watchdog journal of %q", watcher)
	if err := checkName(watcher); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	prefix := s.seenPrefix(watcher)
	c, cancel := s.callContext(ctx)
	defer cancel()
	resp, err := s.client.Get(c, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("%s (prefix %q): %w", what, prefix, err)
	}
	out := make(map[string]watchdog.State, len(resp.Kvs))
	var errs []error
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		server := strings.TrimPrefix(key, prefix)
		if err := checkName(server); err != nil {
			errs = append(errs, fmt.Errorf("%w: key %q: %v", ErrCorrupt, key, err))
			continue
		}
		st, err := decodeSeen(key, kv.Value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[server] = st
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s: %w", what, errors.Join(errs...))
	}
	return out, nil
}
