package etcdstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/internal/etcdconn"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// casAttempts bounds the compare-and-swaps of one Put. A second attempt
// happens only when the image's generation matched but its key's mod
// revision was not the one last seen (the key was rewritten at the same
// generation from outside, say by a restore).
const casAttempts = 3

// Store keeps images in etcd under one prefix. Create it with New; Close
// it when done. All methods are safe for concurrent use, also by several
// Stores in several processes on one prefix.
type Store struct {
	cfg       Config
	client    *clientv3.Client
	ownClient bool // made by New: Close closes it
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	mu   sync.Mutex
	seen map[string]seen // per image name: the version last read or written
}

// seen is an image's generation and its key's mod revision as last read
// or written by this Store: Put's compare-and-swap expects that revision,
// saving a read. A wrong guess costs one more round trip, never safety.
type seen struct {
	generation uint64
	modRev     int64
}

var _ imagestore.Store = (*Store)(nil)

// New returns a Store as cfg says (see Config for who owns the client).
// It does not contact etcd unless cfg.Username is set.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, client: cfg.Client, seen: map[string]seen{}}
	if s.client != nil {
		return s, nil
	}
	c, err := cfg.conn().Dial()
	if err != nil {
		return nil, fmt.Errorf("etcdstore: %w", err)
	}
	s.client, s.ownClient = c, true
	s.cfg.Password = "" // the client keeps it; the Store has no use for it
	return s, nil
}

// String names the Store's endpoints and prefix, never credentials.
func (s *Store) String() string {
	return fmt.Sprintf("etcdstore.Store{Endpoints:%q Prefix:%q}", s.cfg.Endpoints, s.cfg.Prefix)
}

// GoString is String, so %#v shows no more.
func (s *Store) GoString() string { return s.String() }

// Format prints String under every verb (%q quotes it), so no verb
// reaches the fields (the client, holding the password) by reflection.
func (s *Store) Format(f fmt.State, verb rune) { etcdconn.Format(f, verb, s.String()) }

// Close closes the client New made (a Config.Client stays open). Calls
// after Close fail with ErrClosed; a second Close returns the first's
// result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.ownClient {
			if err := s.client.Close(); err != nil {
				s.closeErr = fmt.Errorf("etcdstore: close client: %w", err)
			}
		}
	})
	return s.closeErr
}

// Prefix returns the prefix the Store's keys live under.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// imagesPrefix holds one key per image: the prefix, "images/", the name.
func (s *Store) imagesPrefix() string { return s.cfg.Prefix + "images/" }

// Key returns the etcd key image name is stored at.
func (s *Store) Key(name string) string { return s.imagesPrefix() + name }

func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

func (s *Store) remember(name string, v seen) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[name] = v
}

func (s *Store) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, name)
}

func (s *Store) lastSeen(name string) (seen, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.seen[name]
	return v, ok
}

// Get returns the image called name, or an error wrapping
// imagestore.ErrNotFound, or ErrCorrupt naming a key whose value cannot be
// read as that image. It reads linearizably: it sees every write that
// completed before it began.
func (s *Store) Get(ctx context.Context, name string) (imagestore.Image, error) {
	if err := s.usable(ctx); err != nil {
		return imagestore.Image{}, fmt.Errorf("etcdstore: get %q: %w", name, err)
	}
	img, _, err := s.read(ctx, name)
	return img, err
}

// read returns the image called name and its key's mod revision.
func (s *Store) read(ctx context.Context, name string) (imagestore.Image, int64, error) {
	key := s.Key(name)
	c, cancel := s.callContext(ctx)
	defer cancel()
	resp, err := s.client.Get(c, key)
	if err != nil {
		return imagestore.Image{}, 0, readError(fmt.Sprintf("get %q", name), key, err)
	}
	if len(resp.Kvs) == 0 {
		return imagestore.Image{}, 0, fmt.Errorf("etcdstore: get %q: %w", name, imagestore.ErrNotFound)
	}
	kv := resp.Kvs[0]
	img, err := decode(key, name, kv.Value)
	if err != nil {
		return imagestore.Image{}, 0, err
	}
	s.remember(name, seen{img.Generation, kv.ModRevision})
	return img, kv.ModRevision, nil
}

// List returns every image under the prefix, sorted by name, as of one
// revision. A value that cannot be decoded fails the List with ErrCorrupt
// naming its key.
func (s *Store) List(ctx context.Context) ([]imagestore.Image, error) {
	if err := s.usable(ctx); err != nil {
		return nil, fmt.Errorf("etcdstore: list: %w", err)
	}
	prefix := s.imagesPrefix()
	c, cancel := s.callContext(ctx)
	defer cancel()
	resp, err := s.client.Get(c, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, readError("list", prefix, err)
	}
	out := make([]imagestore.Image, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		name := strings.TrimPrefix(key, prefix)
		img, err := decode(key, name, kv.Value)
		if err != nil {
			return nil, fmt.Errorf("etcdstore: list: %w", err)
		}
		s.remember(name, seen{img.Generation, kv.ModRevision})
		out = append(out, img)
	}
	slices.SortFunc(out, func(a, b imagestore.Image) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Put stores img if img.Generation equals the stored generation (0 for a
// new image) and returns it with Generation one higher. Otherwise the
// error wraps imagestore.ErrStaleGeneration (or ErrInvalidImage, or
// ErrCorrupt) and nothing changes.
//
// The write is one etcd transaction: if the key's mod revision is still
// the one whose value holds img.Generation, put the new value, else read
// the current one. So two Puts at one generation never both succeed,
// across every Store and process on the prefix.
//
// An error wrapping failover.ErrOutcomeUnknown means the answer was lost
// after the request may have reached etcd (deadline, cancellation,
// dropped connection, leader loss): the write may or may not be applied.
// Get tells which; a retry at the same generation is safe, since it fails
// as stale if the first one was applied.
func (s *Store) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	if err := s.usable(ctx); err != nil {
		return imagestore.Image{}, fmt.Errorf("etcdstore: put %q: %w", img.Name, err)
	}
	if err := img.Validate(); err != nil {
		return imagestore.Image{}, fmt.Errorf("etcdstore: put: %w", err)
	}
	if err := checkText(img); err != nil {
		return imagestore.Image{}, fmt.Errorf("etcdstore: put: %w", err)
	}
	next := img.Clone()
	next.Generation++
	data, err := encode(next)
	if err != nil {
		return imagestore.Image{}, err
	}
	if len(data) > s.cfg.MaxValueBytes {
		return imagestore.Image{}, fmt.Errorf("etcdstore: put: %w: image %q: stored value of %d bytes exceeds MaxValueBytes %d",
			imagestore.ErrInvalidImage, img.Name, len(data), s.cfg.MaxValueBytes)
	}
	key := s.Key(img.Name)
	rev, err := s.expectedRevision(ctx, img)
	if err != nil {
		return imagestore.Image{}, err
	}
	for range casAttempts {
		cur, curRev, done, err := s.swap(ctx, key, img.Name, rev, data)
		switch {
		case err != nil:
			return imagestore.Image{}, err
		case done:
			s.remember(img.Name, seen{next.Generation, curRev})
			return next, nil
		case cur == nil:
			return imagestore.Image{}, stale(img, 0)
		case cur.Generation != img.Generation:
			return imagestore.Image{}, stale(img, cur.Generation)
		}
		rev = curRev // same generation at another revision: expect that one
	}
	return imagestore.Image{}, fmt.Errorf("etcdstore: put %q at generation %d: key %q changed under %d compare-and-swaps without its generation changing: %w",
		img.Name, img.Generation, key, casAttempts, imagestore.ErrStaleGeneration)
}

// expectedRevision returns the mod revision img's key must have for a Put
// of img: 0 (no key) to create, else the revision whose value holds
// img.Generation, as last seen or read now.
func (s *Store) expectedRevision(ctx context.Context, img imagestore.Image) (int64, error) {
	if img.Generation == 0 {
		return 0, nil
	}
	if v, ok := s.lastSeen(img.Name); ok && v.generation == img.Generation {
		return v.modRev, nil
	}
	cur, rev, err := s.read(ctx, img.Name)
	switch {
	case errors.Is(err, imagestore.ErrNotFound):
		return 0, stale(img, 0)
	case err != nil:
		return 0, fmt.Errorf("etcdstore: put %q: %w", img.Name, err)
	case cur.Generation != img.Generation:
		return 0, stale(img, cur.Generation)
	}
	return rev, nil
}

// swap is the compare-and-swap: put data at key if its mod revision is
// rev. Otherwise it returns the current image (nil if none) and its key's
// mod revision. On success curRev is the new mod revision.
func (s *Store) swap(ctx context.Context, key, name string, rev int64, data []byte) (cur *imagestore.Image, curRev int64, done bool, err error) {
	c, cancel := s.callContext(ctx)
	defer cancel()
	resp, err := s.client.Txn(c).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(data))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		s.forget(name)
		return nil, 0, false, writeError(fmt.Sprintf("put %q at mod revision %d", name, rev), key, err)
	}
	if resp.Succeeded {
		return nil, resp.Header.Revision, true, nil
	}
	if len(resp.Responses) != 1 || resp.Responses[0].GetResponseRange() == nil {
		return nil, 0, false, fmt.Errorf("etcdstore: put %q: key %q: etcd answered the transaction's else branch with %d responses, want one range", name, key, len(resp.Responses))
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		s.forget(name)
		return nil, 0, false, nil
	}
	img, err := decode(key, name, kvs[0].Value)
	if err != nil {
		return nil, 0, false, fmt.Errorf("etcdstore: put %q: %w", name, err)
	}
	s.remember(name, seen{img.Generation, kvs[0].ModRevision})
	return &img, kvs[0].ModRevision, false, nil
}

func stale(img imagestore.Image, stored uint64) error {
	return fmt.Errorf("etcdstore: put %q at generation %d, stored generation is %d: %w",
		img.Name, img.Generation, stored, imagestore.ErrStaleGeneration)
}
