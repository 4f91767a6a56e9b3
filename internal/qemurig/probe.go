package qemurig

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ProbeKVM boots a transient probe guest under KVM on h (through virsh)
// and reports whether it printed its first tick within timeout. A
// /dev/kvm that opens is not enough: under some nested virtualisation
// KVM guests hang at boot. why says what decided; err is for a rig that
// does not work at all.
func (r *Rig) ProbeKVM(h *Host, timeout time.Duration) (ok bool, why string, err error) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return false, fmt.Sprintf("no /dev/kvm (%v)", err), nil
	}
	g, err := r.Guest("kvm-probe-"+h.Name, "kvm")
	if err != nil {
		return false, "", err
	}
	xml := filepath.Join(r.Shared, g.Name+".xml")
	if err := os.WriteFile(xml, g.DomainXML(), 0o644); err != nil {
		return false, "", fmt.Errorf("qemurig: %w", err)
	}
	if out, err := exec.Command("virsh", "-q", "-c", h.URI, "create", xml).CombinedOutput(); err != nil {
		return false, fmt.Sprintf("a KVM guest does not start: %s", out), nil
	}
	defer exec.Command("virsh", "-q", "-c", h.URI, "destroy", g.Name).Run() //nolint:errcheck // a transient domain: gone either way
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := WaitSerial(ctx, g.Serial, func(s Serial) bool { return len(s.Ticks) > 0 }); err != nil {
		return false, fmt.Sprintf("a KVM guest printed no tick within %v", timeout), nil
	}
	return true, "a KVM guest booted", nil
}
