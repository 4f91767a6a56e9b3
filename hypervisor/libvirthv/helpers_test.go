package libvirthv

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/imagestore"
)

// host is one simulated server: a test-driver node file of its own.
type host struct {
	hv   *Hypervisor
	node string // node file path
}

// nodeFile copies testdata/name into dir with @DISKDIR@ set to diskDir.
func nodeFile(t testing.TB, name, dir, diskDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "@DISKDIR@", diskDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// openHost opens a test-driver host on node file name, checkpoints in ckptDir.
func openHost(t testing.TB, name, dir, diskDir, ckptDir string) host {
	t.Helper()
	node := nodeFile(t, name, dir, diskDir)
	cfg := DefaultConfig("test://" + node)
	cfg.CheckpointDir = ckptDir
	cfg.Domain.ImageRoots = []string{diskDir}
	cfg.PollInterval = 5 * time.Millisecond
	hv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hv.Close() })
	if err := hv.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return host{hv: hv, node: node}
}

// makeDisks creates empty disk files and returns their paths.
func makeDisks(t testing.TB, dir string, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// uuidFor derives a stable UUID from a name, so a VM keeps its identity.
func uuidFor(name string) string {
	h := sha256.Sum256([]byte(name))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// domainXML is a test-driver domain with file disks.
func domainXML(name, uuid string, memMiB, cpus int, disks ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<domain type='test'>\n  <name>%s</name>\n  <uuid>%s</uuid>\n  <memory unit='MiB'>%d</memory>\n  <vcpu>%d</vcpu>\n  <os><type arch='x86_64'>hvm</type></os>\n  <devices>\n", name, uuid, memMiB, cpus)
	for i, d := range disks {
		fmt.Fprintf(&b, "    <disk type='file' device='disk'><source file='%s'/><target dev='vd%c' bus='virtio'/></disk>\n", d, 'a'+i)
	}
	b.WriteString("  </devices>\n</domain>\n")
	return []byte(b.String())
}

// testImage is an image of a 128 MiB, 1-CPU VM with one disk in diskDir.
func testImage(t testing.TB, diskDir, name, owner string) imagestore.Image {
	t.Helper()
	disks := makeDisks(t, diskDir, name+".qcow2")
	return imagestore.Image{
		Name:       name,
		Definition: domainXML(name, uuidFor(name), 128, 1, disks...),
		Disks:      disks,
		Owner:      owner,
		Generation: 1,
		MemoryMiB:  128,
		CPUs:       1,
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mkdirs(t testing.TB, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
}
