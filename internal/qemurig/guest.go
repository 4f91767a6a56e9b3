package qemurig

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/rackha/failover/imagestore"
)

// Guest describes one test guest.
type Guest struct {
	Name      string
	UUID      string
	MemoryMiB int
	// Accel is the domain type: "kvm" or "qemu" (TCG).
	Accel          string
	Kernel, Initrd string
	Disk           string // qcow2
	// Serial is the file the serial console is logged to (by virtlogd,
	// appended, so a guest's run on each host follows the last).
	Serial string
	// Tick is the counter's period (kernel command line tick=).
	Tick time.Duration
	// IgnorePowerButton makes the guest ignore ACPI shutdown requests.
	IgnorePowerButton bool
}

// UUIDFor derives a stable UUID from a name.
func UUIDFor(name string) string {
	h := sha256.Sum256([]byte(name))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// DomainXML is g's libvirt domain: direct kernel boot, one virtio qcow2
// disk, the serial console on a pty logged to g.Serial, ACPI for the
// power button, no network and no graphics.
func (g Guest) DomainXML() []byte {
	cmdline := fmt.Sprintf("console=ttyS0 quiet panic=-1 tick=%s", strconv.FormatFloat(g.Tick.Seconds(), 'f', -1, 64))
	if g.IgnorePowerButton {
		cmdline += " nobutton=1"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<domain type='%s'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%s</kernel>
    <initrd>%s</initrd>
    <cmdline>%s</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'>
      <log file='%s' append='on'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
`, g.Accel, g.Name, g.UUID, g.MemoryMiB, g.Kernel, g.Initrd, cmdline, g.Disk, g.Serial)
	return b.Bytes()
}

// Image is g's first image, owned by owner.
func (g Guest) Image(owner string) imagestore.Image {
	return imagestore.Image{Name: g.Name, Definition: g.DomainXML(), Disks: []string{g.Disk},
		Owner: owner, MemoryMiB: int64(g.MemoryMiB), CPUs: 1}
}

// CreateDisk makes g.Disk, an empty qcow2 image of 16 MiB.
func (g Guest) CreateDisk() error {
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", g.Disk, "16M").CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemurig: qemu-img create %s: %w: %s", g.Disk, err, out)
	}
	return nil
}

// Tick is one "tick N boot B" line of a guest's serial output.
type Tick struct{ N, Boot int }

// Boot is one "boot B from N" line: a cold boot that read counter N.
type Boot struct {
	Boot, From int
	Index      int // how many ticks came before it in the log
}

// Serial is a guest's serial output, parsed.
type Serial struct {
	Ticks       []Tick
	Boots       []Boot
	PowerButton int // "power button" lines: shutdowns the guest began
	Raw         string
}

// Last is the last tick, or the zero Tick.
func (s Serial) Last() Tick {
	if len(s.Ticks) == 0 {
		return Tick{}
	}
	return s.Ticks[len(s.Ticks)-1]
}

// ReadSerial parses the serial log at path; a missing file is empty.
func ReadSerial(path string) (Serial, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return Serial{}, nil
	}
	if err != nil {
		return Serial{}, fmt.Errorf("qemurig: read serial log: %w", err)
	}
	s := Serial{Raw: string(data)}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var a, b int
		switch {
		case scan(line, "tick %d boot %d", &a, &b):
			s.Ticks = append(s.Ticks, Tick{N: a, Boot: b})
		case scan(line, "boot %d from %d", &a, &b):
			s.Boots = append(s.Boots, Boot{Boot: a, From: b, Index: len(s.Ticks)})
		case strings.HasSuffix(line, "power button") && !strings.Contains(line, "ignoring"):
			s.PowerButton++
		}
	}
	return s, nil
}

// scan matches a whole line against format.
func scan(line, format string, a, b *int) bool {
	var rest string
	n, _ := fmt.Sscanf(line+" $", format+" %s", a, b, &rest)
	return n == 3 && rest == "$"
}

// WaitSerial reads path until ok accepts it or ctx ends; it returns the
// last reading either way, and ctx's error in the second case.
func WaitSerial(ctx context.Context, path string, ok func(Serial) bool) (Serial, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		s, err := ReadSerial(path)
		if err != nil {
			return s, err
		}
		if ok(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("qemurig: waiting on %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
}
