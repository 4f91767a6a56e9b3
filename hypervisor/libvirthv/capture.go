package libvirthv

import (
	"context"
	"fmt"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// Capture reads a VM's persistent definition (without secrets such as
// graphics passwords) and its file and block disks into an image. Owner,
// Priority, Generation and Checkpoint are left for the caller.
func (h *Hypervisor) Capture(ctx context.Context, name string) (imagestore.Image, error) {
	var img imagestore.Image
	err := h.conns.do(ctx, fmt.Sprintf("capture %q", name), nil, func(c *libvirt.Connect) error {
		d, err := lookup(c, name)
		if err != nil {
			return err
		}
		defer d.Free() //nolint:errcheck // freeing a handle cannot be acted on
		x, err := d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
		if err != nil {
			return stateErr(name, err)
		}
		dom, err := parseDomain([]byte(x))
		if err != nil {
			return fmt.Errorf("libvirthv: capture %q: libvirt's own XML: %w", name, err)
		}
		img = imagestore.Image{
			Name:       dom.Name,
			Definition: []byte(x),
			Disks:      dom.Disks,
			MemoryMiB:  dom.MemoryMiB,
			CPUs:       dom.CPUs,
		}
		return nil
	})
	if err != nil {
		return imagestore.Image{}, err
	}
	if img.Name != name {
		return imagestore.Image{}, fmt.Errorf("libvirthv: capture %q: libvirt answered domain %q: %w", name, img.Name, hypervisor.ErrNotFound)
	}
	return img, nil
}
