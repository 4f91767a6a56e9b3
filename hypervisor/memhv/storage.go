package memhv

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
)

// Storage stands for storage every server reaches: it holds checkpoints
// and registers every Hypervisor created on it, so tests can ask where a
// VM runs. Create it with NewStorage.
type Storage struct {
	mu          sync.Mutex
	seq         uint64
	checkpoints map[string]Checkpoint
	hvs         map[string]*Hypervisor
}

// Checkpoint is a VM's saved state.
type Checkpoint struct {
	Ref  string
	VM   string // the VM's name
	From string // the hypervisor it was taken on
	// ResumedOn is the hypervisor that resumed it, or empty: a checkpoint
	// resumes once.
	ResumedOn string
	VMInfo
}

// VMInfo is what a checkpoint keeps of a VM.
type VMInfo struct {
	Definition []byte
	Disks      []string
	MemoryMiB  int64
	CPUs       int
}

// NewStorage returns empty shared storage.
func NewStorage() *Storage {
	return &Storage{checkpoints: map[string]Checkpoint{}, hvs: map[string]*Hypervisor{}}
}

func (s *Storage) register(h *Hypervisor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.hvs[h.name]; dup {
		return fmt.Errorf("%w: a hypervisor named %q already uses this Storage", ErrInvalidConfig, h.name)
	}
	s.hvs[h.name] = h
	return nil
}

func (s *Storage) save(from, vm string, info VMInfo) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	ref := fmt.Sprintf("memhv://checkpoint/%d/%s", s.seq, vm)
	info.Definition = slices.Clone(info.Definition)
	info.Disks = slices.Clone(info.Disks)
	s.checkpoints[ref] = Checkpoint{Ref: ref, VM: vm, From: from, VMInfo: info}
	return ref
}

// consume marks checkpoint ref resumed by hypervisor by. It returns
// false, and who resumed it, if it was resumed already. The caller has
// checked that ref exists.
func (s *Storage) consume(ref, by string) (resumedOn string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.checkpoints[ref]
	if c.ResumedOn != "" {
		return c.ResumedOn, false
	}
	c.ResumedOn = by
	s.checkpoints[ref] = c
	return by, true
}

// Checkpoint returns the checkpoint saved under ref.
func (s *Storage) Checkpoint(ref string) (Checkpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.checkpoints[ref]
	c.Definition = slices.Clone(c.Definition)
	c.Disks = slices.Clone(c.Disks)
	return c, ok
}

// hypervisors returns the registered hypervisors sorted by name. The
// caller locks each one after s.mu is released (lock order: a
// hypervisor's lock may be held while taking s.mu, never the reverse).
func (s *Storage) hypervisors() []*Hypervisor {
	s.mu.Lock()
	hs := make([]*Hypervisor, 0, len(s.hvs))
	for _, h := range s.hvs {
		hs = append(hs, h)
	}
	s.mu.Unlock()
	slices.SortFunc(hs, func(a, b *Hypervisor) int { return cmp.Compare(a.name, b.name) })
	return hs
}

// Running returns the names of the hypervisors on which VM vm runs right
// now, sorted. More than one means two copies run at once. It ignores
// reachability: a partitioned host still runs its VMs.
func (s *Storage) Running(vm string) []string {
	var out []string
	for _, h := range s.hypervisors() {
		if h.runs(vm) {
			out = append(out, h.name)
		}
	}
	return out
}

// RunningAll maps every running VM to the hypervisors it runs on (each
// list sorted), for checking that no VM runs twice.
func (s *Storage) RunningAll() map[string][]string {
	out := map[string][]string{}
	for _, h := range s.hypervisors() {
		for _, vm := range h.running() {
			out[vm] = append(out[vm], h.name)
		}
	}
	return out
}
