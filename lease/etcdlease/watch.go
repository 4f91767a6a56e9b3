package etcdlease

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rackha/failover"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// peerView is what the store says of one peer.
type peerView struct {
	held     bool
	ttl      time.Duration
	disarmed bool
}

// Watch reports the lease of each of Config.Peers: first one report each,
// read at one revision, then one on each change of a peer's lease or
// watchdog key, watched from that revision on (so no change is missed).
// The channel closes when ctx ends, the Store closes, or the watch breaks
// (compaction, no leader, an error); the caller watches again. A lease
// value that does not decode still reports Held (its TTL then from the
// lease's TimeToLive); a declaration that does not decode reports
// Disarmed (no takeover by lease). Both are logged.
func (s *Store) Watch(ctx context.Context, watcher string) (<-chan failover.Lease, error) {
	what := fmt.Sprintf("etcdlease: watch leases for %q", watcher)
	if err := checkName(watcher); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	views, rev, err := s.readPeers(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	stopOnClose := context.AfterFunc(s.done, cancel)
	wch := s.client.Watch(wctx, s.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	out := make(chan failover.Lease, len(s.cfg.Peers))
	for _, p := range s.cfg.Peers {
		out <- views[p].report(p)
	}
	go func() {
		defer close(out)
		defer cancel()
		defer stopOnClose()
		for resp := range wch {
			if err := resp.Err(); err != nil || resp.Canceled {
				s.log.Warn("etcdlease: lease watch ended; watch again", "watcher", watcher, "err", err)
				return
			}
			for _, ev := range resp.Events {
				peer, changed := s.apply(ctx, views, ev)
				if !changed {
					continue
				}
				select {
				case out <- views[peer].report(peer):
				case <-wctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func (v *peerView) report(server string) failover.Lease {
	return failover.Lease{Server: server, Held: v.held, TTL: v.ttl, Disarmed: v.disarmed}
}

// readPeers reads every peer's lease and declaration at one revision.
func (s *Store) readPeers(ctx context.Context) (map[string]*peerView, int64, error) {
	lp, wp := s.cfg.Prefix+"lease/", s.cfg.Prefix+"watchdog/"
	c, cancel := s.callContext(ctx)
	resp, err := s.client.Txn(c).Then(clientv3.OpGet(lp, clientv3.WithPrefix()), clientv3.OpGet(wp, clientv3.WithPrefix())).Commit()
	cancel()
	if err != nil {
		return nil, 0, fmt.Errorf("read prefixes %q and %q: %w", lp, wp, err)
	}
	views := make(map[string]*peerView, len(s.cfg.Peers))
	for _, p := range s.cfg.Peers {
		views[p] = &peerView{}
	}
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			s.apply(ctx, views, &clientv3.Event{Type: mvccpb.PUT, Kv: kv})
		}
	}
	return views, resp.Header.Revision, nil
}

// apply takes one change of a key into views; it returns the peer whose
// view it concerns, and false for keys of no peer.
func (s *Store) apply(ctx context.Context, views map[string]*peerView, ev *clientv3.Event) (string, bool) {
	key := string(ev.Kv.Key)
	rest := strings.TrimPrefix(key, s.cfg.Prefix)
	kind, peer, ok := strings.Cut(rest, "/")
	v := views[peer]
	if !ok || v == nil || strings.Contains(peer, "/") {
		return "", false
	}
	put := ev.Type == mvccpb.PUT
	switch kind {
	case "lease":
		v.held = put
		if put {
			if ttl := s.ttlOf(ctx, key, ev.Kv); ttl > 0 {
				v.ttl = ttl
			}
		}
	case "watchdog":
		v.disarmed = false
		if put {
			disarmed, err := decodeDeclaration(key, ev.Kv.Value)
			if err != nil {
				s.log.Warn("etcdlease: watchdog declaration does not decode; taken as disarmed (no takeover by lease)", "err", err)
				disarmed = true
			}
			v.disarmed = disarmed
		}
	default:
		return "", false
	}
	return peer, true
}

// ttlOf returns a lease key's TTL: from its value, or else from its
// lease's TimeToLive; 0 when neither says.
func (s *Store) ttlOf(ctx context.Context, key string, kv *mvccpb.KeyValue) time.Duration {
	ttl, err := decodeLease(key, kv.Value)
	if err == nil {
		return ttl
	}
	s.log.Warn("etcdlease: lease value does not decode; TTL from the lease", "err", err)
	if kv.Lease == 0 {
		return 0
	}
	c, cancel := s.callContext(ctx)
	defer cancel()
	resp, terr := s.client.TimeToLive(c, clientv3.LeaseID(kv.Lease))
	if terr != nil || resp.GrantedTTL <= 0 {
		return 0
	}
	return time.Duration(resp.GrantedTTL) * time.Second
}
