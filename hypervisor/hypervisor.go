// Package hypervisor describes the VM manager of one server: it starts a
// backup VM from its image, stops VMs, reads their state and lists them.
// Checkpointing (for evacuating a degraded server) and capacity reporting
// are optional interfaces, found by type assertion, each with a documented
// fallback.
package hypervisor

import (
	"context"
	"errors"
	"fmt"

	"github.com/rackha/failover/imagestore"
)

// Sentinel errors, checked with errors.Is.
var (
	ErrNotFound         = errors.New("failover: VM not found")
	ErrAlreadyRunning   = errors.New("failover: VM already running")
	ErrNameTaken        = errors.New("failover: VM name taken by another VM")
	ErrUnreachable      = errors.New("failover: hypervisor unreachable")
	ErrNoCapacity       = errors.New("failover: not enough capacity")
	ErrBadImage         = errors.New("failover: image cannot be started")
	ErrHostDown         = errors.New("failover: host down")
	ErrCheckpointFailed = errors.New("failover: checkpoint failed")
)

// VMState is a VM's state on one hypervisor.
type VMState uint8

// VM states.
const (
	StateUnknown VMState = iota
	StateRunning
	StatePaused
	StateStopped // defined here but not running
)

func (s VMState) String() string {
	switch s {
	case StateRunning:
		return "running"
	case StatePaused:
		return "paused"
	case StateStopped:
		return "stopped"
	}
	return "unknown"
}

// VM is one VM as a hypervisor lists it.
type VM struct {
	Name      string
	State     VMState
	MemoryMiB int64
	CPUs      int
}

// Capacity is memory and CPUs.
type Capacity struct {
	MemoryMiB int64
	CPUs      int
}

// Fits reports whether need fits in c.
func (c Capacity) Fits(need Capacity) bool {
	return need.MemoryMiB <= c.MemoryMiB && need.CPUs <= c.CPUs
}

// Sub returns c less used.
func (c Capacity) Sub(used Capacity) Capacity {
	return Capacity{MemoryMiB: c.MemoryMiB - used.MemoryMiB, CPUs: c.CPUs - used.CPUs}
}

func (c Capacity) String() string { return fmt.Sprintf("%d MiB/%d CPUs", c.MemoryMiB, c.CPUs) }

// Hypervisor is one server's VM manager. All methods are safe for
// concurrent use.
//
// Start runs the VM described by img: resumed from img.Checkpoint when it is
// set, else cold-started from img.Definition and img.Disks. The caller has
// already claimed img (imagestore.Claim) and fenced any previous owner;
// Start does not consult the store. Starting a VM that already runs here
// returns ErrAlreadyRunning and changes nothing.
//
// Stop shuts a VM down (gracefully within ctx's deadline, then by force);
// stopping a VM that is stopped or unknown is success.
//
// State returns ErrNotFound for a VM this hypervisor does not know.
// List returns every VM known here, sorted by name.
type Hypervisor interface {
	Start(ctx context.Context, img imagestore.Image) error
	Stop(ctx context.Context, name string) error
	State(ctx context.Context, name string) (VMState, error)
	List(ctx context.Context) ([]VM, error)
}

// Checkpointer saves a running VM's memory to storage every server reaches
// and stops it, returning a reference for imagestore.Image.Checkpoint.
// Without it, a degraded server cannot be evacuated: the engine fences it
// and cold-starts its VMs from their last images.
type Checkpointer interface {
	Checkpoint(ctx context.Context, name string) (ref string, err error)
}

// CapacityReporter reports capacity free for new VMs. Without it, the
// engine assumes unlimited capacity and any start that does not fit fails
// at Start and is alerted.
type CapacityReporter interface {
	FreeCapacity(ctx context.Context) (Capacity, error)
}

// Capturer reads a running VM's definition and disks, to protect it the
// first time. Without it, integrators write the image themselves.
type Capturer interface {
	Capture(ctx context.Context, name string) (imagestore.Image, error)
}
