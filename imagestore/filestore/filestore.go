package filestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/rackha/failover/imagestore"
)

// lockName is the lock file every Store on a directory flocks.
const lockName = ".lock"

// Store keeps images as files in one directory. Create it with Open; Close
// it when done.
type Store struct {
	dir  string
	mu   sync.Mutex // serialises this Store's Puts; flock serialises Stores
	lock *dirLock
}

var _ imagestore.Store = (*Store)(nil)

// Open returns a Store on dir, creating the directory (mode 0700) if
// needed.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("filestore: empty directory name")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	l, err := openLock(filepath.Join(dir, lockName))
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, lock: l}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the lock file. The Store must not be used afterwards.
func (s *Store) Close() error { return s.lock.close() }

// read returns the stored image called name; ok is false if there is none.
func (s *Store) read(name string) (img imagestore.Image, ok bool, err error) {
	file, err := fileName(name)
	if err != nil {
		return imagestore.Image{}, false, nil // Put refuses such names: none is stored
	}
	path := filepath.Join(s.dir, file)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return imagestore.Image{}, false, nil
	}
	if err != nil {
		return imagestore.Image{}, false, fmt.Errorf("filestore: %w", err)
	}
	img, err = decode(path, name, data)
	if err != nil {
		return imagestore.Image{}, false, err
	}
	return img, true, nil
}

// Get returns the image called name, or an error wrapping
// imagestore.ErrNotFound, or ErrCorrupt naming a file that cannot be read
// as that image.
func (s *Store) Get(ctx context.Context, name string) (imagestore.Image, error) {
	if err := ctx.Err(); err != nil {
		return imagestore.Image{}, fmt.Errorf("filestore: get %q: %w", name, err)
	}
	img, ok, err := s.read(name)
	switch {
	case err != nil:
		return imagestore.Image{}, fmt.Errorf("filestore: get %q: %w", name, err)
	case !ok:
		return imagestore.Image{}, fmt.Errorf("filestore: get %q: %w", name, imagestore.ErrNotFound)
	}
	return img, nil
}

// List returns every image, sorted by name. Files that are not image files
// (temporary files, the lock file, strays) are ignored; an image file that
// cannot be decoded fails the List with ErrCorrupt naming it.
func (s *Store) List(ctx context.Context) ([]imagestore.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filestore: list: %w", err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("filestore: list: %w", err)
	}
	var out []imagestore.Image
	for _, e := range entries {
		name, ok := imageName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		img, found, err := s.read(name)
		if err != nil {
			return nil, fmt.Errorf("filestore: list: %w", err)
		}
		if found { // else removed since ReadDir
			out = append(out, img)
		}
	}
	slices.SortFunc(out, func(a, b imagestore.Image) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Put stores img if img.Generation equals the stored generation (0 for a
// new image) and returns it with Generation one higher; otherwise the
// error wraps imagestore.ErrStaleGeneration (or ErrInvalidImage) and
// nothing changes. An error from the final directory sync means the new
// version may or may not survive a crash: Get tells which is stored now.
func (s *Store) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	if err := ctx.Err(); err != nil {
		return imagestore.Image{}, fmt.Errorf("filestore: put %q: %w", img.Name, err)
	}
	if err := img.Validate(); err != nil {
		return imagestore.Image{}, fmt.Errorf("filestore: put: %w", err)
	}
	file, err := fileName(img.Name)
	if err != nil {
		return imagestore.Image{}, fmt.Errorf("filestore: put: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.lock.lock(ctx); err != nil {
		return imagestore.Image{}, fmt.Errorf("filestore: put %q: %w", img.Name, err)
	}
	defer s.lock.unlock()

	cur, ok, err := s.read(img.Name)
	if err != nil {
		return imagestore.Image{}, fmt.Errorf("filestore: put %q: %w", img.Name, err)
	}
	var stored uint64
	if ok {
		stored = cur.Generation
	}
	if img.Generation != stored {
		return imagestore.Image{}, fmt.Errorf("filestore: put %q at generation %d, stored generation is %d: %w",
			img.Name, img.Generation, stored, imagestore.ErrStaleGeneration)
	}
	img = img.Clone()
	img.Generation++
	data, err := encode(img)
	if err != nil {
		return imagestore.Image{}, err
	}
	if err := writeAtomic(s.dir, file, data); err != nil {
		return imagestore.Image{}, fmt.Errorf("filestore: put %q: %w", img.Name, err)
	}
	return img, nil
}
