// Package qemurig is the rig of the real-guest tests: small Linux guests
// built at test time from Debian packages (the cloud kernel and a busybox
// initramfs made here, see WriteInitramfs), and libvirt QEMU hosts, each a
// libvirtd of its own on one machine (see StartHost), sharing one
// directory for disks, checkpoints and serial logs.
//
// The guest counts: it prints "tick N boot B" on its serial console every
// tick and keeps the counter on its disk, so a cold start elsewhere
// continues from the disk (B goes up) and a restore from saved memory
// continues with no boot at all (B stays). ReadSerial parses its output.
//
// Functions are safe to call from several goroutines at once; a Host or
// Rig belongs to one test (or program), which stops it with Stop.
package qemurig
