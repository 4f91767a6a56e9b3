package libvirthv

import (
	"fmt"
	"path/filepath"
	"strings"
)

// DomainPolicy says what domain XML from the image store may ask of this
// host. A stored image must not reach outside its VM: Start checks every
// definition (and the XML inside a checkpoint) against an allowlist of
// elements and attributes, keeps every file it names under the roots
// below, and refuses the constructs that reach the host unless the
// operator allows them here. Refusals wrap hypervisor.ErrBadImage and
// name the element, attribute or path.
type DomainPolicy struct {
	// ImageRoots are the directories under which every file a domain
	// names must lie: disk sources and backing stores (block devices
	// too: list /dev/disk/by-id or /dev/mapper roots for them), kernel,
	// initrd, dtb and filesystem sources (and nvram, see NVRAMRoots).
	// Absolute, clean paths. Empty refuses every such file.
	ImageRoots []string
	// NVRAMRoots are further directories for the <nvram> file, the UEFI
	// variables a VM writes. For failover they belong on shared storage
	// (an ImageRoots directory); libvirt's default keeps them local.
	NVRAMRoots []string
	// FirmwareRoots are the directories under which <loader> and nvram
	// templates must lie (firmware is read from the host, not the image).
	FirmwareRoots []string
	// Emulators are the device model binaries <emulator> may name. The
	// element may also be left out (libvirt picks its default).
	Emulators []string
	// AllowHostChardevs permits serial, console, parallel and channel
	// devices that reach the host: output to host files, pipes or
	// devices, sockets at host paths, TCP and UDP, and <log file>.
	AllowHostChardevs bool
	// AllowFilesystems permits <filesystem> passthrough; its source
	// directories must still lie under ImageRoots.
	AllowFilesystems bool
	// AllowHostdev permits <hostdev> and <interface type='hostdev'>:
	// host PCI, USB and SCSI devices given to the guest.
	AllowHostdev bool
	// AllowInterfaceScripts permits <script> and <downscript> in an
	// <interface>: host programs run when the VM starts and stops.
	AllowInterfaceScripts bool
	// AllowUnconfined permits <seclabel type='none'> (and model='none'):
	// the VM's process without SELinux or AppArmor confinement.
	AllowUnconfined bool
	// AllowQemuCommandline permits elements of libvirt's QEMU namespace
	// (<qemu:commandline>, <qemu:capabilities>, <qemu:override>): raw
	// arguments and properties given to QEMU past libvirt's checks.
	AllowQemuCommandline bool
}

// DefaultDomainPolicy allows disks and kernels under libvirt's default
// storage pool directory, the usual firmware directories and the usual
// QEMU binaries, and none of the constructs that reach the host.
func DefaultDomainPolicy() DomainPolicy {
	return DomainPolicy{
		ImageRoots: []string{"/var/lib/libvirt/images"},     // libvirt's default pool; nothing of the host's own
		NVRAMRoots: []string{"/var/lib/libvirt/qemu/nvram"}, // where libvirt creates UEFI variable files
		FirmwareRoots: []string{ // where Debian, Fedora and SUSE install UEFI and BIOS images
			"/usr/share/OVMF", "/usr/share/AAVMF", "/usr/share/edk2", "/usr/share/qemu", "/usr/share/seabios",
		},
		Emulators: []string{ // Debian/Ubuntu, Fedora and RHEL names of QEMU
			"/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-system-aarch64", "/usr/bin/qemu-kvm", "/usr/libexec/qemu-kvm", "/usr/bin/kvm",
		},
		AllowHostChardevs:     false, // consoles are ptys: no guest output written to host files
		AllowFilesystems:      false, // no host directories shared into guests
		AllowHostdev:          false, // no host devices passed through
		AllowInterfaceScripts: false, // no host programs run by a VM's network setup
		AllowUnconfined:       false, // every VM stays confined by the host's security driver
		AllowQemuCommandline:  false, // nothing passed to QEMU past libvirt
	}
}

// validate names the first field that is wrong; field is the prefix
// ("Domain") of its name in Config.
func (p DomainPolicy) validate(field string) error {
	for _, l := range []struct {
		name  string
		paths []string
	}{{"ImageRoots", p.ImageRoots}, {"NVRAMRoots", p.NVRAMRoots}, {"FirmwareRoots", p.FirmwareRoots}, {"Emulators", p.Emulators}} {
		for i, r := range l.paths {
			if !cleanAbs(r) {
				return fmt.Errorf("%w: %s.%s[%d] %q is not a clean absolute path", ErrInvalidConfig, field, l.name, i, r)
			}
		}
	}
	return nil
}

// cleanAbs reports whether p is absolute and clean: no "..", ".", "//" or
// trailing slash that would let it mean another path than it spells.
func cleanAbs(p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) == p && !strings.ContainsAny(p, "\x00\n\r")
}

// under reports whether p lies strictly below one of roots. Both are
// compared as spelled: the caller has checked p with cleanAbs.
func under(p string, roots []string) bool {
	for _, r := range roots {
		if (r == "/" && p != "/") || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}
