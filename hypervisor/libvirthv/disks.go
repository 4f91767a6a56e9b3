package libvirthv

import (
	"fmt"
	"os"

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
