// Package imagestore holds each protected VM's execution data: its
// definition, its disk references, an optional memory checkpoint, the server
// that owns it and a generation. The generation is the fencing token:
// ownership changes only by compare-and-swap on it, so two servers can never
// both believe they own a VM.
package imagestore

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors, checked with errors.Is.
var (
	ErrNotFound        = errors.New("failover: image not found")
	ErrStaleGeneration = errors.New("failover: stale image generation")
	ErrInvalidImage    = errors.New("failover: invalid image")
)

// Image is one VM's execution data.
type Image struct {
	// Name identifies the VM across servers and hypervisors.
	Name string
	// Definition is the hypervisor's own description (libvirt domain XML,
	// a .vmx path, ...). Opaque to the store.
	Definition []byte
	// Disks are references to disk images on storage every server reaches.
	Disks []string
	// Checkpoint references saved memory state on shared storage, or is
	// empty. A backup resumes from it when set, else cold-starts.
	Checkpoint string
	// CheckpointGeneration is the Generation the image was stored at by
	// the Put that recorded Checkpoint. A checkpoint may be resumed once,
	// by the claim that directly follows it: only while Generation is
	// CheckpointGeneration+1. Hypervisors refuse any other resume
	// (hypervisor.ErrBadImage): old memory over newer disks corrupts them.
	CheckpointGeneration uint64
	// Owner is the server that may run the VM. Only the owner runs it.
	Owner string
	// PreviousOwner is the server Owner took the VM over from (set by
	// Claim), or empty. Alerts about a VM that did not come back name it.
	PreviousOwner string
	// Generation counts changes; 0 means never stored.
	Generation uint64
	// Priority orders takeover: higher first.
	Priority int
	// Resources the VM needs on the server that runs it.
	MemoryMiB int64
	CPUs      int
}

// Validate names the first field that is wrong.
func (img Image) Validate() error {
	switch {
	case img.Name == "":
		return fmt.Errorf("%w: empty Name", ErrInvalidImage)
	case img.Owner == "":
		return fmt.Errorf("%w: image %q: empty Owner", ErrInvalidImage, img.Name)
	case img.MemoryMiB < 0:
		return fmt.Errorf("%w: image %q: MemoryMiB %d is negative", ErrInvalidImage, img.Name, img.MemoryMiB)
	case img.CPUs < 0:
		return fmt.Errorf("%w: image %q: CPUs %d is negative", ErrInvalidImage, img.Name, img.CPUs)
	}
	return nil
}

// Clone returns a deep copy, so callers never share slices with a store.
func (img Image) Clone() Image {
	img.Definition = append([]byte(nil), img.Definition...)
	img.Disks = append([]string(nil), img.Disks...)
	return img
}

// Store keeps images. All methods are safe for concurrent use.
//
// Put is a compare-and-swap: img.Generation must equal the stored
// generation (0 to create a new image), else the error wraps
// ErrStaleGeneration and nothing changes. On success it returns the image
// as stored, with Generation one higher. Get returns ErrNotFound for an
// unknown name; List returns all images sorted by name.
type Store interface {
	Get(ctx context.Context, name string) (Image, error)
	List(ctx context.Context) ([]Image, error)
	Put(ctx context.Context, img Image) (Image, error)
}

// Claim moves img to owner if nobody changed it since img was read: the
// fencing step before a backup starts. It returns the stored image.
func Claim(ctx context.Context, s Store, img Image, owner string) (Image, error) {
	img = img.Clone()
	if img.Owner != owner {
		img.PreviousOwner = img.Owner
	}
	img.Owner = owner
	out, err := s.Put(ctx, img)
	if err != nil {
		return Image{}, fmt.Errorf("imagestore: claim %q for %q at generation %d: %w", img.Name, owner, img.Generation, err)
	}
	return out, nil
}

// OwnedBy returns the images owned by server, highest priority first, then
// by name.
func OwnedBy(ctx context.Context, s Store, server string) ([]Image, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, img := range all {
		if img.Owner == server {
			out = append(out, img)
		}
	}
	SortByPriority(out)
	return out, nil
}
