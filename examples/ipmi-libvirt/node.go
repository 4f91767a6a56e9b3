package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeNode writes a libvirt test-driver node file for one server: an
// 8-CPU, 16 GiB host running vms VMs, each with one disk in diskDir.
func writeNode(path, server string, vms int, diskDir string) error {
	var b strings.Builder
	b.WriteString(`<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads></cpu>
  <memory>16777216</memory>
`)
	for i := 1; i <= vms; i++ {
		name := fmt.Sprintf("%s-vm%d", server, i)
		disk := filepath.Join(diskDir, name+".qcow2")
		if err := os.WriteFile(disk, nil, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&b, `  <domain type="test">
    <name>%s</name>
    <uuid>%s</uuid>
    <memory unit="MiB">512</memory>
    <vcpu>1</vcpu>
    <os><type arch="x86_64">hvm</type></os>
    <devices><disk type="file" device="disk"><source file="%s"/><target dev="vda" bus="virtio"/></disk></devices>
  </domain>
`, name, uuidFor(name), disk)
	}
	b.WriteString("</node>\n")
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// uuidFor gives each VM a stable UUID derived from its name.
func uuidFor(name string) string {
	h := sha256.Sum256([]byte(name))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
