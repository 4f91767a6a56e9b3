package qemurig

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrMissing is wrapped when a component the guests are built from
// (kernel, modules, busybox, QEMU, libvirtd) is not installed.
var ErrMissing = errors.New("qemurig: component missing")

// BusyboxPath is where Debian's busybox-static installs busybox.
const BusyboxPath = "/usr/bin/busybox"

// guestModules are the modules the guest loads (with their dependencies):
// the Debian cloud kernel builds virtio, the ACPI button and evdev as
// modules.
var guestModules = []string{"virtio_pci", "virtio_blk", "button", "evdev"}

// busyboxApplets are linked in /bin; the guest's /init uses these.
var busyboxApplets = []string{"sh", "mount", "insmod", "sleep", "echo", "cat", "dd", "tr", "sync", "poweroff"}

// Kernel is a Debian kernel and its modules.
type Kernel struct {
	Path       string // /boot/vmlinuz-VERSION
	Version    string
	ModulesDir string // /lib/modules/VERSION
}

// FindKernel returns the newest /boot/vmlinuz-*-cloud-amd64 (Debian's
// linux-image-cloud-amd64), else the newest /boot/vmlinuz-*, with its
// modules.
func FindKernel() (Kernel, error) {
	for _, pat := range []string{"/boot/vmlinuz-*-cloud-amd64", "/boot/vmlinuz-*"} {
		found, _ := filepath.Glob(pat)
		sort.Strings(found)
		for i := len(found) - 1; i >= 0; i-- {
			v := strings.TrimPrefix(filepath.Base(found[i]), "vmlinuz-")
			k := Kernel{Path: found[i], Version: v, ModulesDir: filepath.Join("/lib/modules", v)}
			if _, err := os.Stat(filepath.Join(k.ModulesDir, "modules.dep")); err == nil {
				return k, nil
			}
		}
	}
	return Kernel{}, fmt.Errorf("%w: no /boot/vmlinuz-* with its /lib/modules (Debian package linux-image-cloud-amd64)", ErrMissing)
}

// moduleOrder returns the .ko files (relative to k.ModulesDir) that load
// roots, each after its dependencies, from modules.dep.
func (k Kernel) moduleOrder(roots []string) ([]string, error) {
	f, err := os.Open(filepath.Join(k.ModulesDir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMissing, err)
	}
	defer f.Close()
	deps := map[string][]string{} // module name -> its line: path, deps...
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[modName(mod)] = append([]string{mod}, strings.Fields(rest)...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("qemurig: read modules.dep: %w", err)
	}
	var order []string
	seen := map[string]bool{}
	var visit func(name string, depth int) error
	visit = func(name string, depth int) error {
		if seen[name] {
			return nil
		}
		line, ok := deps[name]
		switch {
		case !ok:
			return fmt.Errorf("%w: module %s is not in %s/modules.dep", ErrMissing, name, k.ModulesDir)
		case depth > 32:
			return fmt.Errorf("qemurig: module %s: dependencies nest deeper than 32", name)
		}
		seen[name] = true
		for _, d := range line[1:] {
			if err := visit(modName(d), depth+1); err != nil {
				return err
			}
		}
		order = append(order, line[0])
		return nil
	}
	for _, r := range roots {
		if err := visit(r, 0); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// modName is a module's name from its path: kernel/x/virtio_blk.ko -> virtio_blk.
func modName(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".ko")
}

// WriteInitramfs writes the guest's initramfs (an uncompressed newc cpio,
// which the kernel unpacks without a decompressor) to w: busybox from
// busybox, its applet links, the modules of k the guest needs, /dev/console,
// and /init (see guestInit).
func WriteInitramfs(w io.Writer, busybox string, k Kernel) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("%w: busybox (Debian package busybox-static): %w", ErrMissing, err)
	}
	mods, err := k.moduleOrder(guestModules)
	if err != nil {
		return err
	}
	c := &cpioWriter{w: w}
	for _, d := range []string{"bin", "dev", "proc", "sys", "lib", "lib/modules"} {
		if err := c.dir(d); err != nil {
			return fmt.Errorf("qemurig: write initramfs: %w", err)
		}
	}
	if err := c.charDev("dev/console", 5, 1); err != nil {
		return fmt.Errorf("qemurig: write initramfs: %w", err)
	}
	if err := c.file("bin/busybox", 0o755, bb); err != nil {
		return fmt.Errorf("qemurig: write initramfs: %w", err)
	}
	for _, a := range busyboxApplets {
		if err := c.symlink("bin/"+a, "busybox"); err != nil {
			return fmt.Errorf("qemurig: write initramfs: %w", err)
		}
	}
	names := make([]string, 0, len(mods))
	for _, m := range mods {
		b, err := os.ReadFile(filepath.Join(k.ModulesDir, m))
		if err != nil {
			return fmt.Errorf("%w: module %s: %w", ErrMissing, m, err)
		}
		if err := c.file("lib/modules/"+modName(m)+".ko", 0o644, b); err != nil {
			return fmt.Errorf("qemurig: write initramfs: %w", err)
		}
		names = append(names, modName(m))
	}
	initScript := strings.ReplaceAll(guestInit, "@MODULES@", strings.Join(names, " "))
	if err := c.file("init", 0o755, []byte(initScript)); err != nil {
		return fmt.Errorf("qemurig: write initramfs: %w", err)
	}
	if err := c.close(); err != nil {
		return fmt.Errorf("qemurig: write initramfs: %w", err)
	}
	return nil
}
