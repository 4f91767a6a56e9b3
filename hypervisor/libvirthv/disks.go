package libvirthv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
)

// checkDisks makes sure every disk path exists, as Config.DiskCheck says.
func (h *Hypervisor) checkDisks(c *libvirt.Connect, name string, disks []string) error {
	mode := h.cfg.DiskCheck
	if mode == DiskCheckAuto {
		mode = DiskCheckPool
		if hostless(h.cfg.URI) {
			mode = DiskCheckLocal
		}
	}
	for _, p := range disks {
		switch mode {
		case DiskCheckLocal:
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("libvirthv: start %q: disk %q: %w: %w", name, p, hypervisor.ErrBadImage, err)
			}
		case DiskCheckPool:
			v, err := c.LookupStorageVolByPath(p)
			if err != nil {
				if code, _, _ := virCode(err); code == libvirt.ERR_NO_STORAGE_VOL {
					return fmt.Errorf("libvirthv: start %q: disk %q is no storage volume of the host: %w", name, p, hypervisor.ErrBadImage)
				}
				return fmt.Errorf("libvirthv: start %q: disk %q: %w", name, p, err)
			}
			v.Free() //nolint:errcheck // freeing a handle cannot be acted on
		}
	}
	return nil
}

// resolvedUnder follows the symbolic links of files that exist here and
// refuses one that leads out of roots (a link in an image directory to a
// host file). Files that do not exist are left to the disk check.
func resolvedUnder(files, roots []string) error {
	if len(files) == 0 {
		return nil
	}
	real := make([]string, 0, len(roots))
	for _, r := range roots {
		if rr, err := filepath.EvalSymlinks(r); err == nil {
			real = append(real, rr)
		}
	}
	for _, f := range files {
		rf, err := filepath.EvalSymlinks(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("file %q cannot be resolved: %w", f, err)
		}
		if !under(rf, real) {
			return fmt.Errorf("file %q leads to %q, which is not under DomainPolicy.ImageRoots %q", f, rf, roots)
		}
	}
	return nil
}
