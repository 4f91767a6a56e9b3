package libvirthv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// policyCase edits a stored image of a test-driver VM. Snippets go into
// <devices>, <os> or <domain>; @DISKS@ and @FW@ stand for the host's
// image and firmware roots.
type policyCase struct {
	name    string
	devices string
	os      string
	domain  string
	qemuNS  bool   // declare libvirt's QEMU namespace on <domain>
	disk    string // replaces the image's disk element
	allow   func(*DomainPolicy)
	says    string // for refusals: the error names this
}

const qemuDecl = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"

// policyHost is a test-driver host whose images may name files under
// disks and firmware under fw.
type policyHost struct {
	hv              *Hypervisor
	disks, fw, ckpt string
}

func newPolicyHost(t *testing.T, allow func(*DomainPolicy)) policyHost {
	t.Helper()
	dir := t.TempDir()
	h := policyHost{disks: filepath.Join(dir, "disks"), fw: filepath.Join(dir, "fw"), ckpt: filepath.Join(dir, "ckpt")}
	mkdirs(t, h.disks, h.fw, h.ckpt, filepath.Join(h.disks, "share"))
	makeDisks(t, h.disks, "vmlinuz", "initrd.img", "base.qcow2", "base0.qcow2", "nvram.fd")
	makeDisks(t, h.fw, "OVMF_CODE.fd", "OVMF_VARS.fd")
	cfg := DefaultConfig("test://" + nodeFile(t, "hostB.xml", dir, h.disks))
	cfg.CheckpointDir = h.ckpt
	cfg.Domain.ImageRoots = []string{h.disks}
	cfg.Domain.FirmwareRoots = []string{h.fw}
	if allow != nil {
		allow(&cfg.Domain)
	}
	hv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hv.Close() })
	h.hv = hv
	return h
}

func (h policyHost) image(t *testing.T, tc policyCase) imagestore.Image {
	t.Helper()
	img := testImage(t, h.disks, "vm1", "a")
	x := string(img.Definition)
	r := strings.NewReplacer("@DISKS@", h.disks, "@FW@", h.fw)
	if tc.disk != "" {
		start := strings.Index(x, "    <disk")
		end := strings.Index(x, "</disk>\n") + len("</disk>\n")
		x = x[:start] + r.Replace(tc.disk) + "\n" + x[end:]
		img.Disks = nil // the XML's own
	}
	x = strings.Replace(x, "</devices>", r.Replace(tc.devices)+"</devices>", 1)
	x = strings.Replace(x, "</os>", r.Replace(tc.os)+"</os>", 1)
	x = strings.Replace(x, "</domain>", r.Replace(tc.domain)+"</domain>", 1)
	if tc.qemuNS {
		x = strings.Replace(x, "<domain type='test'>", "<domain type='test'"+qemuDecl+">", 1)
	}
	img.Definition = []byte(x)
	return img
}

// Every construct that reaches outside the VM is refused with
// ErrBadImage naming the element or path, and the host is unchanged.
func TestStartRefusesHostReach(t *testing.T) {
	h := newPolicyHost(t, nil)
	if err := os.Symlink("/etc/passwd", filepath.Join(h.disks, "link.qcow2")); err != nil {
		t.Fatal(err)
	}
	fileDisk := func(src string) string {
		return "    <disk type='file' device='disk'><source file='" + src + "'/><target dev='vda' bus='virtio'/></disk>"
	}
	tests := []policyCase{
		{name: "serial to a host file", devices: "<serial type='file'><source path='/tmp/guest.log'/><target port='0'/></serial>", says: `<devices><serial> type "file"`},
		{name: "console to a host file", devices: "<console type='file'><source path='/var/log/c.log'/><target type='serial' port='0'/></console>", says: `<devices><console> type "file"`},
		{name: "console to a host device", devices: "<console type='dev'><source path='/dev/ttyS0'/></console>", says: `<devices><console> type "dev"`},
		{name: "serial over TCP", devices: "<serial type='tcp'><source mode='bind' host='0.0.0.0' service='2445'/></serial>", says: `<devices><serial> type "tcp"`},
		{name: "pty serial logged to a host file", devices: "<serial type='pty'><log file='/var/log/x.log'/><target port='0'/></serial>", says: "<devices><serial><log> file"},
		{name: "channel socket at a host path", devices: "<channel type='unix'><source mode='bind' path='/etc/evil.sock'/><target type='virtio' name='x.0'/></channel>", says: `<devices><channel><source> path "/etc/evil.sock"`},
		{name: "filesystem passthrough", devices: "<filesystem type='mount'><source dir='/'/><target dir='host'/></filesystem>", says: "<devices><filesystem> is not allowed"},
		{name: "hostdev", devices: "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='0' slot='1' function='0'/></source></hostdev>", says: "<devices><hostdev> is not allowed"},
		{name: "hostdev interface", devices: "<interface type='hostdev'><source><address type='pci' domain='0' bus='0' slot='1' function='0'/></source></interface>", says: "<devices><interface> type 'hostdev'"},
		{name: "interface script", devices: "<interface type='ethernet'><script path='/tmp/evil.sh'/></interface>", says: "<devices><interface><script> is not allowed"},
		{name: "interface downscript", devices: "<interface type='ethernet'><downscript path='/tmp/evil.sh'/></interface>", says: "<devices><interface><downscript> is not allowed"},
		{name: "vhost-user interface", devices: "<interface type='vhostuser'><source type='unix' path='/run/x.sock' mode='client'/></interface>", says: `<devices><interface> type "vhostuser"`},
		{name: "option ROM from a host file", devices: "<interface type='network'><source network='default'/><rom file='/etc/shadow'/></interface>", says: "attribute file of <devices><interface><rom>"},
		{name: "unconfined", domain: "<seclabel type='none'/>", says: "<seclabel> type or model 'none'"},
		{name: "no security model", domain: "<seclabel model='none'/>", says: "<seclabel> type or model 'none'"},
		{name: "qemu:commandline", qemuNS: true, domain: "<qemu:commandline><qemu:arg value='-chardev'/><qemu:arg value='file,id=x,path=/etc/shadow'/></qemu:commandline>", says: "<qemu:commandline> of libvirt's QEMU namespace"},
		{name: "qemu:override", qemuNS: true, domain: "<qemu:override><qemu:device alias='x'/></qemu:override>", says: "<qemu:override>"},
		{name: "disk outside the roots", disk: fileDisk("/etc/shadow"), says: `<devices><disk><source> file "/etc/shadow" is not under DomainPolicy.ImageRoots`},
		{name: "disk with ..", disk: fileDisk("@DISKS@/../../etc/shadow"), says: "/../../etc/shadow\" is not a clean absolute path"},
		{name: "relative disk", disk: fileDisk("vm1.qcow2"), says: `"vm1.qcow2" is not a clean absolute path`},
		{name: "block disk outside the roots", disk: "<disk type='block' device='disk'><source dev='/dev/sda'/><target dev='vda'/></disk>", says: `<devices><disk><source> dev "/dev/sda"`},
		{name: "cdrom outside the roots", devices: "<disk type='file' device='cdrom'><source file='/root/secret.iso'/><target dev='hdc' bus='ide'/></disk>", says: `"/root/secret.iso" is not under`},
		{name: "disk linked out of the roots", disk: fileDisk("@DISKS@/link.qcow2"), says: `leads to "/etc/passwd"`},
		{name: "two sources in one disk", disk: "<disk type='file' device='disk'><source file='@DISKS@/vm1.qcow2'/><source file='/etc/shadow'/><target dev='vda'/></disk>", says: "<devices><disk> has more than one <source>"},
		{name: "backing store outside the roots", disk: "<disk type='file' device='disk'><source file='@DISKS@/vm1.qcow2'/><backingStore type='file'><format type='qcow2'/><source file='/etc/passwd'/></backingStore><target dev='vda'/></disk>",
			says: `<devices><disk><backingStore><source> file "/etc/passwd"`},
		{name: "deep backing store outside the roots", disk: "<disk type='file' device='disk'><source file='@DISKS@/vm1.qcow2'/><backingStore type='file'><source file='@DISKS@/base.qcow2'/><backingStore type='file'><source file='/etc/passwd'/></backingStore></backingStore><target dev='vda'/></disk>",
			says: `<devices><disk><backingStore><backingStore><source> file "/etc/passwd"`},
		{name: "network disk", devices: "<disk type='network' device='disk'><source protocol='nbd' name='x'><host name='localhost'/></source><target dev='vdb'/></disk>", says: `<devices><disk> type "network"`},
		{name: "kernel outside the roots", os: "<kernel>/boot/vmlinuz</kernel>", says: `<os><kernel> "/boot/vmlinuz" is not under DomainPolicy.ImageRoots`},
		{name: "initrd outside the roots", os: "<kernel>@DISKS@/vmlinuz</kernel><initrd>/boot/initrd.img</initrd>", says: `<os><initrd> "/boot/initrd.img"`},
		{name: "dtb outside the roots", os: "<dtb>/boot/x.dtb</dtb>", says: `<os><dtb> "/boot/x.dtb"`},
		{name: "nvram outside the roots", os: "<loader readonly='yes' type='pflash'>@FW@/OVMF_CODE.fd</loader><nvram>/etc/vars.fd</nvram>", says: `<os><nvram> "/etc/vars.fd" is not under DomainPolicy.NVRAMRoots or ImageRoots`},
		{name: "USB redirection from the host", devices: "<redirdev bus='usb' type='tcp'/>", says: `<devices><redirdev> type "tcp"`},
		{name: "nvram template outside the firmware roots", os: "<nvram template='/etc/shadow'>@DISKS@/nvram.fd</nvram>", says: `<os><nvram> template "/etc/shadow" is not under DomainPolicy.FirmwareRoots`},
		{name: "loader outside the firmware roots", os: "<loader readonly='yes' type='pflash'>/etc/passwd</loader>", says: `<os><loader> "/etc/passwd" is not under DomainPolicy.FirmwareRoots`},
		{name: "emulator not listed", devices: "<emulator>/tmp/evil</emulator>", says: `<devices><emulator> "/tmp/evil" is not one of DomainPolicy.Emulators`},
		{name: "host audio to a file", devices: "<audio id='1' type='file'/>", says: `<devices><audio> type "file"`},
		{name: "host TPM", devices: "<tpm model='tpm-tis'><backend type='passthrough'/></tpm>", says: `<devices><tpm><backend> type "passthrough"`},
		{name: "rng from a host file", devices: "<rng model='virtio'><backend model='random'>/etc/shadow</backend></rng>", says: `<devices><rng><backend> "/etc/shadow"`},
		{name: "rng over a socket", devices: "<rng model='virtio'><backend model='egd' type='tcp'/></rng>", says: `<devices><rng><backend> model "egd"`},
		{name: "graphics on the host's display", devices: "<graphics type='sdl'/>", says: `<devices><graphics> type "sdl"`},
		{name: "unlisted device", devices: "<shmem name='x'><model type='ivshmem-plain'/></shmem>", says: "element <devices><shmem> is not allowed"},
		{name: "nvdimm memory from a host file", devices: "<memory model='nvdimm'><source><path>/etc/shadow</path></source></memory>", says: "element <devices><memory> is not allowed"},
		{name: "host bootloader", domain: "<bootloader>/usr/bin/pygrub</bootloader>", says: "element <bootloader> is not allowed"},
		{name: "foreign namespace", domain: "<x:evil xmlns:x='urn:x'/>", says: `element <evil> of namespace "urn:x" is not allowed`},
		{name: "unlisted attribute", disk: "<disk type='file' device='disk' evil='1'><source file='@DISKS@/base.qcow2'/><target dev='vdb'/></disk>", says: "attribute evil of <devices><disk>"},
		{name: "namespace declared inside", devices: "<video xmlns:x='urn:x'><model type='vga'/></video>", says: "namespace declaration on <devices><video>"},
	}
	r := &twoHosts{b: host{hv: h.hv}}
	before := states(t, r.b.hv)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := h.hv.Start(testCtx(t), h.image(t, tc))
			if !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Start: %v\nwant ErrBadImage saying %s", err, tc.says)
			}
			if diff := cmp.Diff(before, states(t, h.hv)); diff != "" {
				t.Errorf("host changed after a refused Start (-before +after):\n%s", diff)
			}
		})
	}
}

// The allowed forms start on the test driver; the policy's switches
// permit each refused construct.
func TestStartAllowedForms(t *testing.T) {
	tests := []policyCase{
		{name: "plain"},
		{name: "pty serial and console", devices: "<serial type='pty'><target port='0'/></serial><console type='pty'><target type='serial' port='0'/></console>"},
		{name: "guest agent channel", devices: "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"},
		{name: "guest agent channel at libvirt's path", devices: "<channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/target/vm1.org.qemu.guest_agent.0'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"},
		{name: "kernel, initrd and cmdline under the roots", os: "<kernel>@DISKS@/vmlinuz</kernel><initrd>@DISKS@/initrd.img</initrd><cmdline>console=ttyS0</cmdline>"},
		{name: "backing chain under the roots", disk: "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='@DISKS@/vm1.qcow2'/><backingStore type='file'><format type='qcow2'/><source file='@DISKS@/base.qcow2'/><backingStore type='file'><format type='raw'/><source file='@DISKS@/base0.qcow2'/><backingStore/></backingStore></backingStore><target dev='vda' bus='virtio'/></disk>"},
		{name: "metadata of any shape", domain: "<metadata><app:x xmlns:app='urn:app'><app:y path='/etc/shadow'/></app:x></metadata>"},
		{name: "network, graphics, video, balloon, rng", devices: "<interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/><model type='virtio'/></interface>" +
			"<graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'><listen type='address' address='127.0.0.1'/></graphics><video><model type='virtio'/></video>" +
			"<memballoon model='virtio'/><rng model='virtio'><backend model='random'>/dev/urandom</backend></rng><input type='tablet' bus='usb'/>"},
		{name: "UEFI with nvram under the roots", os: "<loader readonly='yes' type='pflash'>@FW@/OVMF_CODE.fd</loader><nvram template='@FW@/OVMF_VARS.fd'>@DISKS@/nvram.fd</nvram>"},
		{name: "spice with USB redirection and a TPM", devices: "<graphics type='spice' autoport='yes'><listen type='address'/><image compression='off'/></graphics><controller type='usb' index='0' model='qemu-xhci' ports='15'/><redirdev bus='usb' type='spicevmc'/>" +
			"<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm><channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel><audio id='1' type='spice'/>"},
		{name: "confined seclabel", domain: "<seclabel type='dynamic' model='selinux' relabel='yes'/>"},
		{name: "serial to a file, allowed", devices: "<serial type='file'><source path='/tmp/guest.log'/><target port='0'/></serial>", allow: func(p *DomainPolicy) { p.AllowHostChardevs = true }},
		{name: "filesystem under the roots, allowed", devices: "<filesystem type='mount' accessmode='mapped'><source dir='@DISKS@/share'/><target dir='share'/></filesystem>", allow: func(p *DomainPolicy) { p.AllowFilesystems = true }},
		{name: "interface script, allowed", devices: "<interface type='ethernet'><script path='/etc/qemu-ifup'/></interface>", allow: func(p *DomainPolicy) { p.AllowInterfaceScripts = true }},
		{name: "hostdev, allowed", devices: "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>", allow: func(p *DomainPolicy) { p.AllowHostdev = true }},
		{name: "listed emulator", devices: "<emulator>/usr/bin/qemu-system-x86_64</emulator>"},
		{name: "unconfined, allowed", domain: "<seclabel type='none'/>", allow: func(p *DomainPolicy) { p.AllowUnconfined = true }},
		{name: "qemu:commandline, allowed", qemuNS: true, domain: "<qemu:commandline><qemu:arg value='-nodefaults'/></qemu:commandline>", allow: func(p *DomainPolicy) { p.AllowQemuCommandline = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newPolicyHost(t, tc.allow)
			img := h.image(t, tc)
			if err := h.hv.Start(testCtx(t), img); err != nil {
				t.Fatalf("Start: %v\nXML:\n%s", err, img.Definition)
			}
			if st, err := h.hv.State(testCtx(t), "vm1"); err != nil || st != hypervisor.StateRunning {
				t.Fatalf("State: %v, %v; want running", st, err)
			}
		})
	}
}

// A checkpoint is resumed only from under CheckpointDir, and the XML
// inside it is checked like a definition: a save file written on shared
// storage cannot smuggle in what the store could not.
func TestRestoreChecksCheckpoint(t *testing.T) {
	r := newRack(t, "hostB.xml")
	r.protect(t)
	img := r.aImages[1].Clone() // web1
	ref, err := r.a.hv.Checkpoint(testCtx(t), img.Name)
	if err != nil {
		t.Fatal(err)
	}
	img.Checkpoint, img.CheckpointGeneration, img.Generation = "/etc/passwd", 1, 2
	if err := r.b.hv.Start(testCtx(t), img); !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), `checkpoint "/etc/passwd" is not under Config.CheckpointDir`) {
		t.Fatalf("restore from outside CheckpointDir: %v", err)
	}
	img.Checkpoint = r.ckpt + "/../ckpt/" + filepath.Base(ref)
	if err := r.b.hv.Start(testCtx(t), img); !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), "is not a clean absolute path") {
		t.Fatalf("restore from a path with ..: %v", err)
	}

	// Rewrite the XML inside the save file: a serial port to a host file.
	c, err := libvirt.NewConnect(r.a.hv.cfg.URI)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	saved, err := c.DomainSaveImageGetXMLDesc(ref, 0)
	if err != nil {
		t.Fatal(err)
	}
	evil := strings.Replace(saved, "</devices>", "<serial type='file'><source path='/tmp/evil.log'/><target port='0'/></serial></devices>", 1)
	if err := c.DomainSaveImageDefineXML(ref, evil, 0); err != nil {
		t.Fatal(err)
	}
	img.Checkpoint = ref
	err = r.b.hv.Start(testCtx(t), img)
	if !errors.Is(err, hypervisor.ErrBadImage) || !strings.Contains(err.Error(), `checkpoint "`+ref+`": domain XML line`) || !strings.Contains(err.Error(), `<devices><serial> type "file"`) {
		t.Fatalf("restore of a save file with a serial port to a host file: %v", err)
	}
	if _, err := os.Stat(ref); err != nil {
		t.Errorf("a refused restore consumed the checkpoint: %v", err)
	}
	if _, err := r.b.hv.State(testCtx(t), img.Name); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("web1 on B after a refused restore: %v, want ErrNotFound", err)
	}
}
