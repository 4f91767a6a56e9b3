package qemurig

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// need fails under CI=true, else skips, when err says a component is missing.
func need(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(err)
	}
	t.Skip(err)
}

// The initramfs unpacks with busybox cpio into the tree the guest's /init
// expects, and /init parses as a shell script.
func TestQEMUInitramfs(t *testing.T) {
	k, err := FindKernel()
	need(t, err)
	_, err = os.Stat(BusyboxPath)
	need(t, err)
	var buf bytes.Buffer
	if err := WriteInitramfs(&buf, BusyboxPath, k); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("QEMURIG_INITRAMFS") != "" {
		os.WriteFile(os.Getenv("QEMURIG_INITRAMFS"), buf.Bytes(), 0o644)
	}
	dir := t.TempDir()
	cmd := exec.Command(BusyboxPath, "cpio", "-i", "-d")
	cmd.Dir, cmd.Stdin = dir, bytes.NewReader(buf.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v\n%s", err, out)
	}
	for _, f := range []string{"init", "bin/busybox", "lib/modules/virtio_blk.ko", "lib/modules/virtio.ko", "lib/modules/button.ko"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("unpacked initramfs: %v", err)
		}
	}
	if l, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh links to %q (%v), want busybox", l, err)
	}
	init, _ := os.ReadFile(filepath.Join(dir, "init"))
	if strings.Contains(string(init), "@MODULES@") {
		t.Error("init still holds @MODULES@")
	}
	if out, err := exec.Command(BusyboxPath, "sh", "-n", filepath.Join(dir, "init")).CombinedOutput(); err != nil {
		t.Errorf("init does not parse: %v\n%s", err, out)
	}
	// virtio loads before virtio_blk and virtio_pci, which need it.
	order, err := k.moduleOrder(guestModules)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(order))
	for i, m := range order {
		names[i] = modName(m)
	}
	if v, b := slices.Index(names, "virtio"), slices.Index(names, "virtio_blk"); v < 0 || b < 0 || v > b {
		t.Errorf("module order %v: virtio must come before virtio_blk", names)
	}
	t.Logf("initramfs %d bytes, modules %v", buf.Len(), names)
}
