package libvirthv

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"
)

// fuzzPolicy is the policy the pure checks use: images under /img,
// firmware under /fw.
func fuzzPolicy() DomainPolicy {
	p := DefaultDomainPolicy()
	p.ImageRoots, p.FirmwareRoots = []string{"/img"}, []string{"/fw"} // NVRAMRoots: the default
	return p
}

func doc(body string) string {
	return "<domain type='kvm'" + qemuDecl + "><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory>1</memory>" +
		"<os><type>hvm</type></os><devices><disk type='file' device='disk'><source file='/img/v.qcow2'/><target dev='vda'/></disk></devices>" + body + "</domain>"
}

func devs(x string) string { return strings.Replace(doc(""), "</devices>", x+"</devices>", 1) }

// Each switch of DomainPolicy permits exactly its construct: refused by
// default, accepted with the switch on, still refused with every other
// switch on.
func TestCheckDomainSwitches(t *testing.T) {
	switches := map[string]func(*DomainPolicy){
		"AllowHostChardevs":     func(p *DomainPolicy) { p.AllowHostChardevs = true },
		"AllowFilesystems":      func(p *DomainPolicy) { p.AllowFilesystems = true },
		"AllowHostdev":          func(p *DomainPolicy) { p.AllowHostdev = true },
		"AllowInterfaceScripts": func(p *DomainPolicy) { p.AllowInterfaceScripts = true },
		"AllowUnconfined":       func(p *DomainPolicy) { p.AllowUnconfined = true },
		"AllowQemuCommandline":  func(p *DomainPolicy) { p.AllowQemuCommandline = true },
	}
	tests := []struct {
		xml, needs string
	}{
		{devs("<serial type='file'><source path='/tmp/x'/></serial>"), "AllowHostChardevs"},
		{devs("<console type='pipe'><source path='/tmp/p'/></console>"), "AllowHostChardevs"},
		{devs("<channel type='unix'><source mode='bind' path='/tmp/s'/><target type='virtio' name='a'/></channel>"), "AllowHostChardevs"},
		{devs("<serial type='pty'><log file='/tmp/l'/></serial>"), "AllowHostChardevs"},
		{devs("<filesystem type='mount'><source dir='/img/share'/><target dir='s'/></filesystem>"), "AllowFilesystems"},
		{devs("<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>"), "AllowHostdev"},
		{devs("<interface type='hostdev'><source><address type='pci' domain='0' bus='1' slot='0' function='0'/></source></interface>"), "AllowHostdev"},
		{devs("<tpm model='tpm-crb'><backend type='passthrough'/></tpm>"), "AllowHostdev"},
		{devs("<interface type='ethernet'><script path='/etc/qemu-ifup'/></interface>"), "AllowInterfaceScripts"},
		{doc("<seclabel type='none'/>"), "AllowUnconfined"},
		{doc("<qemu:commandline><qemu:arg value='-x'/></qemu:commandline>"), "AllowQemuCommandline"},
		{doc("<qemu:capabilities><qemu:add capability='x'/></qemu:capabilities>"), "AllowQemuCommandline"},
	}
	for _, tc := range tests {
		if _, err := checkDomain([]byte(tc.xml), fuzzPolicy()); err == nil || !strings.Contains(err.Error(), "DomainPolicy."+tc.needs) {
			t.Errorf("default policy on %s: %v, want a refusal naming DomainPolicy.%s", tc.xml, err, tc.needs)
		}
		on := fuzzPolicy()
		switches[tc.needs](&on)
		if _, err := checkDomain([]byte(tc.xml), on); err != nil {
			t.Errorf("%s on, %s: %v", tc.needs, tc.xml, err)
		}
		others := fuzzPolicy()
		for name, set := range switches {
			if name != tc.needs {
				set(&others)
			}
		}
		if _, err := checkDomain([]byte(tc.xml), others); err == nil {
			t.Errorf("every switch but %s on, %s: accepted", tc.needs, tc.xml)
		}
	}
	// A permitted filesystem still keeps its source under ImageRoots.
	on := fuzzPolicy()
	on.AllowFilesystems = true
	if _, err := checkDomain([]byte(devs("<filesystem type='mount'><source dir='/'/><target dir='s'/></filesystem>")), on); err == nil || !strings.Contains(err.Error(), `dir "/" is not under DomainPolicy.ImageRoots`) {
		t.Errorf("filesystem of / with AllowFilesystems: %v", err)
	}
}

func TestCheckDomainStructure(t *testing.T) {
	deep := doc("") // a backing chain deeper than maxDepth
	chain := strings.Repeat("<backingStore type='file'>", maxDepth) + strings.Repeat("</backingStore>", maxDepth)
	deep = strings.Replace(deep, "<target dev='vda'/>", chain+"<target dev='vda'/>", 1)
	for _, tc := range []struct{ xml, says string }{
		{"<network/>", "not <domain>"},
		{"<q:domain xmlns:q='urn:q'/>", "not <domain>"},
		{doc("") + "<domain/>", "second element <domain> after </domain>"},
		{"<domain><name>v</name>", "does not parse"},
		{"<domain><name>v</name></domain></domain>", "does not parse"},
		{deep, "nest deeper than 64"},
		{doc("<name xmlns:q='urn:q' q:x='1'/>"), "namespace declaration on <name>"},
		{strings.Replace(doc(""), "<target dev='vda'/>", "<target dev='vda' qemu:x='1'/>", 1), "attribute http://libvirt.org/schemas/domain/qemu/1.0:x of <devices><disk><target>"},
		{devs("<graphics type='vnc' passwd='hunter2-secret' evil='x'/>"), "attribute evil of <devices><graphics>"},
	} {
		_, err := checkDomain([]byte(tc.xml), fuzzPolicy())
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("checkDomain(%.80q): %v, want an error saying %q", tc.xml, err, tc.says)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error quotes a password: %v", err)
		}
	}
	files, err := checkDomain([]byte(strings.Replace(doc(""), "<type>hvm</type>", "<type>hvm</type><kernel>/img/k</kernel><loader>/fw/code.fd</loader>", 1)), fuzzPolicy())
	if err != nil || !slices.Equal(files, []string{"/img/k", "/img/v.qcow2"}) {
		t.Errorf("files = %q, %v; want the kernel and the disk (not the firmware)", files, err)
	}
}

// FuzzCheckDomain: the checker never panics, and what it accepts under
// the default switches is checked again by an independent scan: no
// refused element outside <metadata>, no character device reaching the
// host, every disk, backing store, kernel, initrd and dtb under /img,
// nvram there or in libvirt's nvram directory, and every loader and nvram
// template under /fw.
func FuzzCheckDomain(f *testing.F) {
	for _, s := range []string{
		doc(""),
		doc("<metadata><x:a xmlns:x='urn:x'><hostdev/></x:a></metadata>"),
		doc("<qemu:commandline><qemu:arg value='-x'/></qemu:commandline>"),
		doc("<seclabel type='none'/>"),
		doc("<seclabel type='dynamic' model='selinux'><label>x</label></seclabel>"),
		devs("<serial type='pty'><source path='/dev/pts/3'/><target port='0'/></serial><console type='pty' tty='/dev/pts/3'><target type='serial'/></console>"),
		devs("<serial type='file'><source path='/tmp/x'/></serial>"),
		devs("<channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/target/x'/><target type='virtio' name='a'/></channel>"),
		devs("<channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/../../../../etc/x'/></channel>"),
		devs("<filesystem type='mount'><source dir='/'/><target dir='s'/></filesystem>"),
		devs("<hostdev mode='subsystem' type='pci'/>"),
		devs("<interface type='ethernet'><script path='/x'/></interface>"),
		devs("<disk type='file' device='disk'><source file='/img/a'/><backingStore type='file'><format type='qcow2'/><source file='/etc/passwd'/></backingStore></disk>"),
		devs("<disk type='file'><source file='/img/a'/><source file='/etc/shadow'/></disk>"),
		devs("<disk type='block' device='lun'><source dev='/img/../dev/sda'/></disk>"),
		devs("<emulator>/usr/bin/qemu-system-x86_64</emulator><rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"),
		strings.Replace(doc(""), "<type>hvm</type>", "<type>hvm</type><kernel>/img/k</kernel><initrd>/boot/i</initrd><loader>/fw/c</loader><nvram template='/fw/t'>/img/n</nvram>", 1),
		"<domain><devices><disk type='file'><source file='/img/a'/></disk></devices></domain>",
		"<domain xmlns='urn:x'/>",
		strings.ReplaceAll(typicalQEMU, "/var/lib/libvirt/images/", "/img/"),
		"<domain",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, def []byte) {
		if _, err := checkDomain(def, fuzzPolicy()); err != nil {
			return
		}
		if msg := rescan(def); msg != "" {
			t.Fatalf("accepted, but %s:\n%q", msg, def)
		}
	})
}

// rescan is the fuzz oracle: a plain walk over the tokens that reports
// the first thing the default policy forbids.
func rescan(def []byte) string {
	dec := xml.NewDecoder(bytes.NewReader(def))
	var stack []string
	var chardev string
	underRoot := func(p string, root string) bool { return cleanAbs(p) && strings.HasPrefix(p, root+"/") }
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			return "the document does not parse: " + err.Error()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			text.Reset()
			if slices.Contains(stack, "metadata") && len(stack) > 2 {
				continue
			}
			path := strings.Join(stack[1:], "/")
			if t.Name.Space == qemuNS {
				return "a QEMU namespace element is there"
			}
			switch t.Name.Local {
			case "hostdev", "filesystem", "script", "downscript", "commandline", "bootloader", "shmem":
				return "<" + t.Name.Local + "> is there"
			}
			get := func(n string) string {
				for _, a := range t.Attr {
					if a.Name.Local == n {
						return a.Value
					}
				}
				return ""
			}
			switch {
			case path == "seclabel" && (get("type") == "none" || get("model") == "none"):
				return "an unconfined seclabel is there"
			case isChardev(path):
				chardev = get("type")
				if chardev != "pty" && chardev != "unix" && chardev != "null" && chardev != "vc" && chardev != "spicevmc" && chardev != "spiceport" && chardev != "qemu-vdagent" {
					return "a chardev of type " + chardev + " is there"
				}
			case len(stack) == 4 && isChardev(strings.Join(stack[1:3], "/")) && t.Name.Local == "log" && get("file") != "":
				return "a chardev log file is there"
			case len(stack) == 4 && isChardev(strings.Join(stack[1:3], "/")) && t.Name.Local == "source" && get("path") != "" && chardev != "pty" &&
				!underRoot(get("path"), "/var/lib/libvirt/qemu/channel") && !underRoot(get("path"), "/run/libvirt/qemu/channel"):
				return "a chardev source path " + get("path") + " is there"
			case strings.HasPrefix(path, "devices/disk") && t.Name.Local == "source":
				for _, a := range []string{"file", "dev"} {
					if v := get(a); v != "" && !underRoot(v, "/img") {
						return "a disk path " + v + " outside /img is there"
					}
				}
			case path == "os/nvram" && get("template") != "" && !underRoot(get("template"), "/fw"):
				return "an nvram template outside /fw is there"
			}
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			v := strings.TrimSpace(text.String())
			if len(stack) > 1 && !slices.Contains(stack, "metadata") {
				switch strings.Join(stack[1:], "/") {
				case "os/kernel", "os/initrd", "os/dtb":
					if v != "" && !underRoot(v, "/img") {
						return "a boot file " + v + " outside /img is there"
					}
				case "os/nvram":
					if v != "" && !underRoot(v, "/img") && !underRoot(v, "/var/lib/libvirt/qemu/nvram") {
						return "an nvram file " + v + " outside /img and libvirt's nvram directory is there"
					}
				case "os/loader":
					if v != "" && !underRoot(v, "/fw") {
						return "a loader " + v + " outside /fw is there"
					}
				}
			}
			text.Reset()
			stack = stack[:len(stack)-1]
		}
	}
}

// What virsh dumpxml prints for a running UEFI guest that virt-install
// made (paths as on Debian), with its live aliases, addresses, ptys and
// guest-agent socket, passes the default policy.
func TestCheckDomainTypicalQEMU(t *testing.T) {
	x := typicalQEMU
	files, err := checkDomain([]byte(x), DefaultDomainPolicy())
	if err != nil {
		t.Fatalf("typical QEMU domain refused: %v", err)
	}
	if want := []string{"/var/lib/libvirt/images/web1.qcow2", "/var/lib/libvirt/images/debian12-base.qcow2"}; !slices.Equal(files, want) {
		t.Errorf("files = %q, want %q", files, want)
	}
	if _, err := parseDomain([]byte(x)); err != nil {
		t.Errorf("parseDomain: %v", err)
	}
}

// typicalQEMU is virsh dumpxml of a running virt-install guest.
const typicalQEMU = `<domain type='kvm' id='3'>
  <name>web1</name>
  <uuid>6f1d3c5e-7a1b-4c2d-9e0f-a1b2c3d4e501</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>2097152</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <resource><partition>/machine</partition></resource>
  <os firmware='efi'>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <firmware><feature enabled='no' name='enrolled-keys'/><feature enabled='no' name='secure-boot'/></firmware>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/><vmport state='off'/></features>
  <cpu mode='host-passthrough' check='none' migratable='on'><topology sockets='1' dies='1' cores='2' threads='1'/></cpu>
  <clock offset='utc'><timer name='rtc' tickpolicy='catchup'/><timer name='pit' tickpolicy='delay'/><timer name='hpet' present='no'/></clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='/var/lib/libvirt/images/web1.qcow2' index='2'/>
      <backingStore type='file' index='3'><format type='qcow2'/><source file='/var/lib/libvirt/images/debian12-base.qcow2'/><backingStore/></backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
      <alias name='sata0-0-0'/>
      <address type='drive' controller='0' bus='0' target='0' unit='0'/>
    </disk>
    <controller type='usb' index='0' model='qemu-xhci' ports='15'><alias name='usb'/><address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/></controller>
    <controller type='pci' index='0' model='pcie-root'><alias name='pcie.0'/></controller>
    <controller type='pci' index='1' model='pcie-root-port'><model name='pcie-root-port'/><target chassis='1' port='0x10'/><alias name='pci.1'/><address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/></controller>
    <controller type='sata' index='0'><alias name='ide'/></controller>
    <controller type='virtio-serial' index='0'><alias name='virtio-serial0'/></controller>
    <interface type='network'>
      <mac address='52:54:00:6b:3c:58'/>
      <source network='default' portid='2c0a8b3e-5d37-4a8e-a1b9-0a5d8f3f0e11' bridge='virbr0'/>
      <target dev='vnet2'/>
      <model type='virtio'/>
      <alias name='net0'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <serial type='pty'><source path='/dev/pts/3'/><target type='isa-serial' port='0'><model name='isa-serial'/></target><alias name='serial0'/></serial>
    <console type='pty' tty='/dev/pts/3'><source path='/dev/pts/3'/><target type='serial' port='0'/><alias name='serial0'/></console>
    <channel type='unix'>
      <source mode='bind' path='/run/libvirt/qemu/channel/3-web1/org.qemu.guest_agent.0'/>
      <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
      <alias name='channel0'/>
      <address type='virtio-serial' controller='0' bus='0' port='1'/>
    </channel>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0' state='disconnected'/><alias name='channel1'/></channel>
    <input type='tablet' bus='usb'><alias name='input0'/><address type='usb' bus='0' port='1'/></input>
    <input type='mouse' bus='ps2'><alias name='input1'/></input>
    <graphics type='spice' port='5900' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/><image compression='off'/></graphics>
    <sound model='ich9'><audio id='1'/><alias name='sound0'/></sound>
    <audio id='1' type='spice'/>
    <video><model type='virtio' heads='1' primary='yes'/><alias name='video0'/></video>
    <redirdev bus='usb' type='spicevmc'><alias name='redir0'/><address type='usb' bus='0' port='2'/></redirdev>
    <watchdog model='itco' action='reset'><alias name='watchdog0'/></watchdog>
    <memballoon model='virtio'><stats period='5'/><alias name='balloon0'/></memballoon>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend><alias name='rng0'/></rng>
    <tpm model='tpm-crb'><backend type='emulator' version='2.0'/><alias name='tpm0'/></tpm>
  </devices>
  <seclabel type='dynamic' model='apparmor' relabel='yes'><label>libvirt-6f1d3c5e-7a1b-4c2d-9e0f-a1b2c3d4e501</label><imagelabel>libvirt-6f1d3c5e-7a1b-4c2d-9e0f-a1b2c3d4e501</imagelabel></seclabel>
  <seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+994</label><imagelabel>+64055:+994</imagelabel></seclabel>
</domain>`
