package memhv

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// ErrInvalidConfig marks a Config that Validate refuses.
var ErrInvalidConfig = errors.New("failover: invalid memhv configuration")

// Config describes one simulated hypervisor.
type Config struct {
	// Name of the server; unique per Storage. Required.
	Name string
	// Capacity is the memory and CPUs VMs may use in total. Both must be
	// positive.
	Capacity hypervisor.Capacity
	// Storage is shared with the other servers' hypervisors. Nil means a
	// private one (checkpoints resume only here).
	Storage *Storage
}

// DefaultConfig returns a Config for server name with 64 GiB and 32 CPUs
// (a small blade) and private storage.
func DefaultConfig(name string) Config {
	return Config{Name: name, Capacity: hypervisor.Capacity{MemoryMiB: 64 << 10, CPUs: 32}}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: Config.Name is empty", ErrInvalidConfig)
	case c.Capacity.MemoryMiB <= 0:
		return fmt.Errorf("%w: Config.Capacity.MemoryMiB %d must be positive", ErrInvalidConfig, c.Capacity.MemoryMiB)
	case c.Capacity.CPUs <= 0:
		return fmt.Errorf("%w: Config.Capacity.CPUs %d must be positive", ErrInvalidConfig, c.Capacity.CPUs)
	}
	return nil
}

// Hypervisor is one simulated server's VM manager. Create it with New.
type Hypervisor struct {
	name     string
	capacity hypervisor.Capacity
	storage  *Storage

	mu             sync.Mutex
	vms            map[string]*vm
	down           bool // powered off: VMs gone, unreachable
	unreachable    bool
	failCheckpoint error
	failStart      error
}

type vm struct {
	state hypervisor.VMState
	info  VMInfo
	// From is the checkpoint ref the VM was resumed from, or "".
	from string
}

var (
	_ hypervisor.Hypervisor       = (*Hypervisor)(nil)
	_ hypervisor.Checkpointer     = (*Hypervisor)(nil)
	_ hypervisor.CapacityReporter = (*Hypervisor)(nil)
	_ hypervisor.Capturer         = (*Hypervisor)(nil)
)

// New returns a running, reachable hypervisor with no VMs, registered on
// cfg.Storage.
func New(cfg Config) (*Hypervisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Storage == nil {
		cfg.Storage = NewStorage()
	}
	h := &Hypervisor{name: cfg.Name, capacity: cfg.Capacity, storage: cfg.Storage, vms: map[string]*vm{}}
	if err := cfg.Storage.register(h); err != nil {
		return nil, err
	}
	return h, nil
}

// Name returns the server's name.
func (h *Hypervisor) Name() string { return h.name }

// Storage returns the storage this hypervisor reaches.
func (h *Hypervisor) Storage() *Storage { return h.storage }

// enter checks ctx, locks h and checks that the host answers. On error
// the lock is released.
func (h *Hypervisor) enter(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memhv %s: %s: %w", h.name, op, err)
	}
	h.mu.Lock()
	switch {
	case h.down:
		h.mu.Unlock()
		return fmt.Errorf("memhv %s: %s: host powered off: %w", h.name, op, hypervisor.ErrUnreachable)
	case h.unreachable:
		h.mu.Unlock()
		return fmt.Errorf("memhv %s: %s: no answer: %w", h.name, op, hypervisor.ErrUnreachable)
	}
	return nil
}

func (h *Hypervisor) usedLocked() hypervisor.Capacity {
	var u hypervisor.Capacity
	for _, v := range h.vms {
		if v.state == hypervisor.StateRunning {
			u.MemoryMiB += v.info.MemoryMiB
			u.CPUs += v.info.CPUs
		}
	}
	return u
}

// Start runs img: resumed from img.Checkpoint (which must be on this
// hypervisor's Storage and be of a VM with the same name) when set, else
// cold-started. A checkpoint resumes once, and only from an image whose
// Generation is CheckpointGeneration+1 (the claim right after it was
// recorded); the Storage remembers which checkpoints were resumed. It
// wraps ErrAlreadyRunning if the VM runs here, ErrBadImage for an invalid
// image, an empty definition, an unknown checkpoint, one resumed before
// or one of another generation, ErrNoCapacity when the VM does not fit,
// and the FailStart error when one is scripted.
func (h *Hypervisor) Start(ctx context.Context, img imagestore.Image) error {
	if err := h.enter(ctx, "start "+img.Name); err != nil {
		return err
	}
	defer h.mu.Unlock()
	if v, ok := h.vms[img.Name]; ok && v.state == hypervisor.StateRunning {
		return fmt.Errorf("memhv %s: start %q: %w", h.name, img.Name, hypervisor.ErrAlreadyRunning)
	}
	if err := img.Validate(); err != nil {
		return fmt.Errorf("memhv %s: start: %w: %v", h.name, hypervisor.ErrBadImage, err)
	}
	info := VMInfo{Definition: slices.Clone(img.Definition), Disks: slices.Clone(img.Disks), MemoryMiB: img.MemoryMiB, CPUs: img.CPUs}
	if img.Checkpoint != "" {
		if img.Generation != img.CheckpointGeneration+1 {
			return fmt.Errorf("memhv %s: start %q: %w: checkpoint %q was recorded at generation %d, so only generation %d may resume it, not %d",
				h.name, img.Name, hypervisor.ErrBadImage, img.Checkpoint, img.CheckpointGeneration, img.CheckpointGeneration+1, img.Generation)
		}
		c, ok := h.storage.Checkpoint(img.Checkpoint)
		switch {
		case !ok:
			return fmt.Errorf("memhv %s: start %q: %w: checkpoint %q not on this storage", h.name, img.Name, hypervisor.ErrBadImage, img.Checkpoint)
		case c.VM != img.Name:
			return fmt.Errorf("memhv %s: start %q: %w: checkpoint %q is of VM %q", h.name, img.Name, hypervisor.ErrBadImage, img.Checkpoint, c.VM)
		case c.ResumedOn != "":
			return fmt.Errorf("memhv %s: start %q: %w: checkpoint %q was resumed already, on %s", h.name, img.Name, hypervisor.ErrBadImage, img.Checkpoint, c.ResumedOn)
		}
		info = c.VMInfo
	}
	if len(info.Definition) == 0 {
		return fmt.Errorf("memhv %s: start %q: %w: empty definition", h.name, img.Name, hypervisor.ErrBadImage)
	}
	need := hypervisor.Capacity{MemoryMiB: info.MemoryMiB, CPUs: info.CPUs}
	if free := h.capacity.Sub(h.usedLocked()); !free.Fits(need) {
		return fmt.Errorf("memhv %s: start %q: %w: needs %v, %v free", h.name, img.Name, hypervisor.ErrNoCapacity, need, free)
	}
	if h.failStart != nil {
		return fmt.Errorf("memhv %s: start %q: %w", h.name, img.Name, h.failStart)
	}
	if img.Checkpoint != "" {
		// Atomic on the Storage: of two hypervisors resuming one
		// checkpoint at once, one wins.
		if by, ok := h.storage.consume(img.Checkpoint, h.name); !ok {
			return fmt.Errorf("memhv %s: start %q: %w: checkpoint %q was resumed already, on %s", h.name, img.Name, hypervisor.ErrBadImage, img.Checkpoint, by)
		}
	}
	h.vms[img.Name] = &vm{state: hypervisor.StateRunning, info: info, from: img.Checkpoint}
	return nil
}

// Stop stops VM name; it stays known as stopped. Stopping a stopped or
// unknown VM is success.
func (h *Hypervisor) Stop(ctx context.Context, name string) error {
	if err := h.enter(ctx, "stop "+name); err != nil {
		return err
	}
	defer h.mu.Unlock()
	if v, ok := h.vms[name]; ok {
		v.state = hypervisor.StateStopped
	}
	return nil
}

// State returns VM name's state, or an error wrapping ErrNotFound.
func (h *Hypervisor) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	if err := h.enter(ctx, "state "+name); err != nil {
		return hypervisor.StateUnknown, err
	}
	defer h.mu.Unlock()
	v, ok := h.vms[name]
	if !ok {
		return hypervisor.StateUnknown, fmt.Errorf("memhv %s: state %q: %w", h.name, name, hypervisor.ErrNotFound)
	}
	return v.state, nil
}

// List returns every VM known here, running or stopped, sorted by name.
func (h *Hypervisor) List(ctx context.Context) ([]hypervisor.VM, error) {
	if err := h.enter(ctx, "list"); err != nil {
		return nil, err
	}
	defer h.mu.Unlock()
	out := make([]hypervisor.VM, 0, len(h.vms))
	for name, v := range h.vms {
		out = append(out, hypervisor.VM{Name: name, State: v.state, MemoryMiB: v.info.MemoryMiB, CPUs: v.info.CPUs})
	}
	slices.SortFunc(out, func(a, b hypervisor.VM) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Checkpoint saves running VM name to the Storage and stops it. It wraps
// ErrNotFound for a VM not running here, and the FailCheckpoint error
// when one is scripted (the VM then keeps running).
func (h *Hypervisor) Checkpoint(ctx context.Context, name string) (string, error) {
	if err := h.enter(ctx, "checkpoint "+name); err != nil {
		return "", err
	}
	defer h.mu.Unlock()
	v, ok := h.vms[name]
	if !ok || v.state != hypervisor.StateRunning {
		return "", fmt.Errorf("memhv %s: checkpoint %q: %w: not running here", h.name, name, hypervisor.ErrNotFound)
	}
	if h.failCheckpoint != nil {
		return "", fmt.Errorf("memhv %s: checkpoint %q: %w", h.name, name, h.failCheckpoint)
	}
	ref := h.storage.save(h.name, name, v.info)
	v.state = hypervisor.StateStopped
	return ref, nil
}

// FreeCapacity returns Capacity less the running VMs' needs.
func (h *Hypervisor) FreeCapacity(ctx context.Context) (hypervisor.Capacity, error) {
	if err := h.enter(ctx, "free capacity"); err != nil {
		return hypervisor.Capacity{}, err
	}
	defer h.mu.Unlock()
	return h.capacity.Sub(h.usedLocked()), nil
}

// Capture returns VM name's definition, disks and resources as an image
// owned by this server, never stored (Generation 0).
func (h *Hypervisor) Capture(ctx context.Context, name string) (imagestore.Image, error) {
	if err := h.enter(ctx, "capture "+name); err != nil {
		return imagestore.Image{}, err
	}
	defer h.mu.Unlock()
	v, ok := h.vms[name]
	if !ok {
		return imagestore.Image{}, fmt.Errorf("memhv %s: capture %q: %w", h.name, name, hypervisor.ErrNotFound)
	}
	return imagestore.Image{
		Name: name, Owner: h.name,
		Definition: slices.Clone(v.info.Definition), Disks: slices.Clone(v.info.Disks),
		MemoryMiB: v.info.MemoryMiB, CPUs: v.info.CPUs,
	}, nil
}

// runs reports whether VM name runs here, reachable or not.
func (h *Hypervisor) runs(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.vms[name]
	return ok && v.state == hypervisor.StateRunning
}

// running returns the running VMs' names, sorted.
func (h *Hypervisor) running() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for name, v := range h.vms {
		if v.state == hypervisor.StateRunning {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ResumedFrom returns the checkpoint ref VM name was last started from
// here, or "" for a cold start or an unknown VM. It ignores reachability.
func (h *Hypervisor) ResumedFrom(name string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v, ok := h.vms[name]; ok {
		return v.from
	}
	return ""
}
