package qemurig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
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

// New builds the guests' boot files into a temporary shared directory
// and starts hosts "a" and "b" in parallel; they stop at the test's
// cleanup. Errors wrap ErrMissing when a component is not installed.
func New(t testing.TB) (*Rig, error) {
	t.Helper()
	if err := Tools(); err != nil {
		return nil, err
	}
	k, err := FindKernel()
	if err != nil {
		return nil, err
	}
	root := t.TempDir()
	r := &Rig{Shared: filepath.Join(root, "shared")}
	r.Checkpoints = filepath.Join(r.Shared, "checkpoints")
	if err := os.MkdirAll(r.Checkpoints, 0o755); err != nil {
		return nil, fmt.Errorf("qemurig: %w", err)
	}
	var initrd bytes.Buffer
	if err := WriteInitramfs(&initrd, BusyboxPath, k); err != nil {
		return nil, err
	}
	r.Initrd = filepath.Join(r.Shared, "initrd")
	if err := os.WriteFile(r.Initrd, initrd.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("qemurig: %w", err)
	}
	// A copy: the hosts' domain policy keeps every file a domain names
	// under the shared directory.
	kernel, err := os.ReadFile(k.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: kernel: %w", ErrMissing, err)
	}
	r.Kernel = filepath.Join(r.Shared, "vmlinuz")
	if err := os.WriteFile(r.Kernel, kernel, 0o644); err != nil {
		return nil, fmt.Errorf("qemurig: %w", err)
	}
	var wg sync.WaitGroup
	var errA, errB error
	wg.Add(2)
	go func() { defer wg.Done(); r.A, errA = StartHost(t, "a", filepath.Join(root, "host-a")) }()
	go func() { defer wg.Done(); r.B, errB = StartHost(t, "b", filepath.Join(root, "host-b")) }()
	wg.Wait()
	if errA != nil {
		return nil, errA
	}
	if errB != nil {
		return nil, errB
	}
	return r, nil
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
