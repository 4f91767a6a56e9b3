package libvirthv

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDomain(t *testing.T) {
	good := string(domainXML("vm1", "6F1D3C5E-7A1B-4C2D-9E0F-A1B2C3D4E501", 512, 2, "/d/a.img", "/d/b.img"))
	tests := []struct {
		name    string
		xml     string
		want    domain
		wantErr string
	}{
		{"good", good, domain{Name: "vm1", UUID: "6f1d3c5e-7a1b-4c2d-9e0f-a1b2c3d4e501", MemoryMiB: 512, CPUs: 2, Disks: []string{"/d/a.img", "/d/b.img"}}, ""},
		{"KiB default, rounded up", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory>1025</memory></domain>`,
			domain{Name: "v", UUID: "6f1d3c5e-7a1b-4c2d-9e0f-a1b2c3d4e501", MemoryMiB: 2, CPUs: 1}, ""},
		{"vcpu current", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory unit='GB'>1</memory><vcpu current='2'>8</vcpu></domain>`,
			domain{Name: "v", UUID: "6f1d3c5e-7a1b-4c2d-9e0f-a1b2c3d4e501", MemoryMiB: 954, CPUs: 2}, ""},
		{"block, network and cdrom disks", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory unit='MiB'>1</memory><devices>
			<disk type='block' device='disk'><source dev='/dev/sdb'/></disk>
			<disk type='network' device='disk'><source protocol='rbd' name='pool/img'/></disk>
			<disk type='file' device='cdrom'/></devices></domain>`,
			domain{Name: "v", UUID: "6f1d3c5e-7a1b-4c2d-9e0f-a1b2c3d4e501", MemoryMiB: 1, CPUs: 1, Disks: []string{"/dev/sdb"}}, ""},
		{"empty", "", domain{}, "empty"},
		{"truncated", good[:40], domain{}, "does not parse"},
		{"no name", `<domain><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory>1</memory></domain>`, domain{}, "no <name>"},
		{"slash in name", `<domain><name>a/b</name></domain>`, domain{}, "not allowed"},
		{"bad UUID", `<domain><name>v</name><uuid>xyz</uuid><memory>1</memory></domain>`, domain{}, "is not a UUID"},
		{"no memory", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid></domain>`, domain{}, "no <memory>"},
		{"negative memory", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory>-5</memory></domain>`, domain{}, "not a positive integer"},
		{"NaN memory", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory>NaN</memory></domain>`, domain{}, "not a positive integer"},
		{"unknown unit", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory unit='parsec'>5</memory></domain>`, domain{}, "unit"},
		{"huge memory", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory unit='EiB'>5</memory></domain>`, domain{}, "unit"},
		{"overflow", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory unit='TiB'>18446744073709551</memory></domain>`, domain{}, "overflows"},
		{"zero vcpu", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory>1</memory><vcpu>0</vcpu></domain>`, domain{}, "not a CPU count"},
		{"file disk without source", `<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory>1</memory><devices><disk type='file' device='disk'/></devices></domain>`, domain{}, "no <source>"},
		{"second element", good + "<domain/>", domain{}, "second element"},
		{"trailing text", good + "junk", domain{}, "text after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDomain([]byte(tc.xml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseDomain: %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseDomain (-want +got):\n%s", diff)
			}
		})
	}
}

// withDisks changes the disk sources and no other byte.
func TestWithDisksKeepsTheRest(t *testing.T) {
	in := `<?xml version="1.0"?>
<!-- kept -->
<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>v</name>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/old/a.qcow2' index='1'/>
      <backingStore type='file'><source file='/old/base.qcow2'/></backingStore>
      <target dev='vda'/>
    </disk>
    <disk type='block' device='disk'><source dev="/dev/old"></source></disk>
    <disk type='file' device='cdrom'><source file='/iso/x.iso'/></disk>
  </devices>
  <qemu:commandline><qemu:arg value='-x'/></qemu:commandline>
</domain>
`
	out, err := withDisks([]byte(in), []string{"/new/a & b.qcow2", "/dev/new"})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		`<source file='/old/a.qcow2' index='1'/>`, `<source file="/new/a &amp; b.qcow2" index="1"/>`,
		`<source dev="/dev/old">`, `<source dev="/dev/new">`,
	).Replace(in)
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("withDisks (-want +got):\n%s", diff)
	}
	if _, err := withDisks([]byte(in), []string{"/only/one"}); err == nil || !strings.Contains(err.Error(), "2 file or block disks, the image names 1") {
		t.Errorf("wrong count: %v", err)
	}
}

// FuzzParseDomain: any input either parses into a consistent domain or
// fails with an error; never a panic. Parsed domains survive withDisks.
func FuzzParseDomain(f *testing.F) {
	f.Add(domainXML("vm1", uuidFor("vm1"), 128, 1, "/d/a.img"))
	f.Add([]byte(`<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory unit='G'>1</memory><devices><disk type='block'><source dev='/dev/x'/></disk></devices></domain>`))
	f.Add([]byte(`<domain><name>v</name><uuid>6f1d3c5e7a1b4c2d9e0fa1b2c3d4e501</uuid><memory>1</memory><devices><disk type='file' device='disk'><source file='a'></source></disk></devices></domain>`))
	f.Add([]byte("<domain"))
	f.Fuzz(func(t *testing.T, def []byte) {
		d, err := parseDomain(def)
		if err != nil {
			return
		}
		if d.Name == "" || d.MemoryMiB <= 0 || d.CPUs <= 0 || len(d.UUID) != 36 {
			t.Fatalf("parsed an inconsistent domain: %+v", d)
		}
		repl := make([]string, len(d.Disks))
		for i := range repl {
			repl[i] = "/fuzz/disk-" + string(rune('a'+i%26)) + ".img"
		}
		out, err := withDisks(def, repl)
		if err != nil {
			// The raw token scan may see disks the struct decoder does not
			// (or the reverse) only in documents libvirt would refuse too.
			return
		}
		d2, err := parseDomain(out)
		if err != nil {
			t.Fatalf("withDisks output does not parse: %v\nin:  %q\nout: %q", err, def, out)
		}
		if d2.Name != d.Name || d2.UUID != d.UUID || !cmp.Equal(d2.Disks, repl) && len(repl) > 0 {
			t.Fatalf("withDisks changed more than disks: %+v -> %+v\nout: %q", d, d2, out)
		}
		if len(repl) == 0 && !bytes.Equal(out, def) {
			t.Fatalf("withDisks with no disks changed the document")
		}
	})
}
