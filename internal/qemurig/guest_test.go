package qemurig

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ReadSerial finds ticks, boots and power-button lines among kernel
// messages and carriage returns, and ignores lines that only look alike.
func TestReadSerial(t *testing.T) {
	p := filepath.Join(t.TempDir(), "serial")
	log := "boot 1 from 0\r\ntick 1 boot 1\r\ntick 2 boot 1\r\n[    6.02] reboot: Power down\r\n" +
		"tick 3 boot 1 extra\r\nignoring the power button\r\nboot 2 from 2\r\ntick 3 boot 2\r\npower button\r\n"
	if err := os.WriteFile(p, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSerial(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Tick{{1, 1}, {2, 1}, {3, 2}}
	if len(s.Ticks) != len(want) {
		t.Fatalf("ticks %+v, want %+v", s.Ticks, want)
	}
	for i := range want {
		if s.Ticks[i] != want[i] {
			t.Errorf("tick %d: %+v, want %+v", i, s.Ticks[i], want[i])
		}
	}
	if len(s.Boots) != 2 || s.Boots[1] != (Boot{Boot: 2, From: 2, Index: 2}) {
		t.Errorf("boots %+v, want the second from 2 after two ticks", s.Boots)
	}
	if s.PowerButton != 1 || s.Last() != (Tick{3, 2}) {
		t.Errorf("power button %d, last %+v", s.PowerButton, s.Last())
	}
	if s, err := ReadSerial(filepath.Join(t.TempDir(), "none")); err != nil || len(s.Ticks) != 0 {
		t.Errorf("missing log: %+v, %v; want empty", s, err)
	}
}

// The domain names only the guest's own files and passes the tick and
// the power-button choice on the kernel command line.
func TestDomainXML(t *testing.T) {
	g := Guest{Name: "g1", UUID: UUIDFor("g1"), MemoryMiB: 128, Accel: "qemu", Kernel: "/s/vmlinuz", Initrd: "/s/initrd",
		Disk: "/s/g1.qcow2", Serial: "/s/g1.serial", Tick: 250 * time.Millisecond, IgnorePowerButton: true}
	x := string(g.DomainXML())
	for _, want := range []string{"<domain type='qemu'>", "<memory unit='MiB'>128</memory>", "tick=0.25 nobutton=1",
		"<source file='/s/g1.qcow2'/>", "<log file='/s/g1.serial' append='on'/>"} {
		if !strings.Contains(x, want) {
			t.Errorf("domain XML lacks %s:\n%s", want, x)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(g.UUID) {
		t.Errorf("UUID %s is not a version 4 UUID", g.UUID)
	}
}
