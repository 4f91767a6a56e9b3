// Package memstore is an in-memory imagestore.Store, for tests, simulations
// and single-process deployments that need no persistence.
//
// A *Store is safe for concurrent use: one mutex guards the map, and every
// image goes in and comes out as a deep copy, so no caller shares a slice
// with the store.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/rackha/failover/imagestore"
)

// Store is an in-memory image store. The zero value is not usable: call New.
type Store struct {
	mu     sync.Mutex
	images map[string]imagestore.Image
}

var _ imagestore.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{images: map[string]imagestore.Image{}}
}

// Get returns a deep copy of the image called name, or an error wrapping
// imagestore.ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (imagestore.Image, error) {
	if err := ctx.Err(); err != nil {
		return imagestore.Image{}, fmt.Errorf("memstore: get %q: %w", name, err)
	}
	s.mu.Lock()
	img, ok := s.images[name]
	s.mu.Unlock()
	if !ok {
		return imagestore.Image{}, fmt.Errorf("memstore: get %q: %w", name, imagestore.ErrNotFound)
	}
	return img.Clone(), nil
}

// List returns deep copies of all images, sorted by name.
func (s *Store) List(ctx context.Context) ([]imagestore.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: list: %w", err)
	}
	s.mu.Lock()
	out := make([]imagestore.Image, 0, len(s.images))
	for _, img := range s.images {
		out = append(out, img.Clone())
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b imagestore.Image) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Put stores img if img.Generation equals the stored generation (0 for a
// new image) and returns it with Generation one higher. Otherwise the error
// wraps imagestore.ErrStaleGeneration (or ErrInvalidImage) and nothing
// changes.
func (s *Store) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	if err := ctx.Err(); err != nil {
		return imagestore.Image{}, fmt.Errorf("memstore: put %q: %w", img.Name, err)
	}
	if err := img.Validate(); err != nil {
		return imagestore.Image{}, fmt.Errorf("memstore: put: %w", err)
	}
	img = img.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	var stored uint64
	if cur, ok := s.images[img.Name]; ok {
		stored = cur.Generation
	}
	if img.Generation != stored {
		return imagestore.Image{}, fmt.Errorf("memstore: put %q at generation %d, stored generation is %d: %w",
			img.Name, img.Generation, stored, imagestore.ErrStaleGeneration)
	}
	img.Generation++
	s.images[img.Name] = img
	return img.Clone(), nil
}
