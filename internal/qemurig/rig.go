package qemurig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Rig is two hosts, A and B, and the directory they share.
type Rig struct {
	// Shared holds disks, serial logs, checkpoints, the kernel and the
	// initramfs; both hosts see it at the same path.
	Shared         string
	Checkpoints    string // Shared/checkpoints
	Kernel, Initrd string
	A, B           *Host
}

// New builds the guests' boot files into root/shared and starts hosts
// "a" and "b" (under root/host-a, root/host-b) in parallel. The caller
// stops them with Stop, also after an error. Errors wrap ErrMissing when
// a component is not installed.
func New(root string) (r *Rig, err error) {
	r = &Rig{Shared: filepath.Join(root, "shared")}
	if err := Tools(); err != nil {
		return r, err
	}
	k, err := FindKernel()
	if err != nil {
		return r, err
	}
	r.Checkpoints = filepath.Join(r.Shared, "checkpoints")
	if err := os.MkdirAll(r.Checkpoints, 0o755); err != nil {
		return r, fmt.Errorf("qemurig: %w", err)
	}
	var initrd bytes.Buffer
	if err := WriteInitramfs(&initrd, BusyboxPath, k); err != nil {
		return r, err
	}
	r.Initrd = filepath.Join(r.Shared, "initrd")
	if err := os.WriteFile(r.Initrd, initrd.Bytes(), 0o644); err != nil {
		return r, fmt.Errorf("qemurig: %w", err)
	}
	// A copy: the hosts' domain policy keeps every file a domain names
	// under the shared directory.
	kernel, err := os.ReadFile(k.Path)
	if err != nil {
		return r, fmt.Errorf("%w: kernel: %w", ErrMissing, err)
	}
	r.Kernel = filepath.Join(r.Shared, "vmlinuz")
	if err := os.WriteFile(r.Kernel, kernel, 0o644); err != nil {
		return r, fmt.Errorf("qemurig: %w", err)
	}
	var wg sync.WaitGroup
	var errA, errB error
	wg.Add(2)
	go func() { defer wg.Done(); r.A, errA = StartHost("a", filepath.Join(root, "host-a")) }()
	go func() { defer wg.Done(); r.B, errB = StartHost("b", filepath.Join(root, "host-b")) }()
	wg.Wait()
	if errA != nil {
		return r, errA
	}
	return r, errB
}

// Stop stops both hosts (see Host.Stop).
func (r *Rig) Stop() {
	for _, h := range []*Host{r.A, r.B} {
		if h != nil {
			h.Stop()
		}
	}
}

// Guest returns a guest named name with a fresh disk in the shared
// directory, 128 MiB, ticking every 500 ms, of domain type accel.
func (r *Rig) Guest(name, accel string) (Guest, error) {
	g := Guest{
		Name: name, UUID: UUIDFor(name), MemoryMiB: 128, Accel: accel,
		Kernel: r.Kernel, Initrd: r.Initrd,
		Disk:   filepath.Join(r.Shared, name+".qcow2"),
		Serial: filepath.Join(r.Shared, name+".serial"),
		Tick:   500 * time.Millisecond,
	}
	return g, g.CreateDisk()
}
