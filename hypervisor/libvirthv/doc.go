// Package libvirthv is the libvirt adapter of hypervisor.Hypervisor: it
// starts backup VMs from the image store's domain XML or from a saved
// memory checkpoint, stops them (graceful shutdown with a deadline, then
// destroy), reads their state, lists them, checkpoints them for
// evacuation, captures them for protection and reports free capacity.
//
// A Hypervisor holds one libvirt connection, opened from Config.URI
// (qemu:///system, qemu+ssh://host/system, test:///abs/path/node.xml ...).
// When the connection drops it is reopened on the next call; calls that
// change something are never retried by themselves (see Hypervisor.Start).
// With the test driver each connection is its own host, so a reopened
// test:/// connection starts again from its node file.
//
// Start refuses a VM whose memory does not fit in the node's free memory
// (Config.EnforceMemory), counting starts still under way, so backups
// started in parallel cannot overfill a host. FreeCapacity counts CPUs
// times Config.CPUOvercommit.
//
// Domain XML from the image store is not trusted with the host: Start
// checks it (and the XML inside a checkpoint) against an allowlist and
// Config.Domain (see DomainPolicy), so a stored image cannot name host
// files, devices or programs. A checkpoint resumes once, only at the
// generation after the one that recorded it, and only from under
// Config.CheckpointDir.
//
// For remote URIs, Config.KeepAliveInterval makes libvirt drop a peer that
// stopped answering, so a call fails with ErrUnreachable within seconds
// instead of hanging. Keep-alive needs an event loop: the package calls
// libvirt.EventRegisterDefaultImpl once per process and runs the loop in
// a goroutine. A program that runs its own libvirt event loop sets
// KeepAliveInterval to 0 and keeps alive itself.
//
// # Real QEMU hosts
//
// The tests named QEMU (go test -run 'QEMU|KVM') run the adapter on two
// real libvirtd hosts with QEMU guests (internal/qemurig): capture,
// fence and cold start through failover.Monitor, checkpoint and resume
// with memory, Stop and FreeCapacity. What such a host needs of Config:
// CheckpointDir on storage both hosts reach; Domain.ImageRoots covering
// the disks and any kernel and initrd a domain boots directly; and
// Domain.AllowHostChardevs for a serial console logged to a file. A
// second start of a VM whose disk another host's QEMU holds fails at
// Start (QEMU's image locking, where the shared storage supports it).
//
// # Concurrency
//
// Every method of *Hypervisor is safe for concurrent use. Calls about the
// same VM name are serialized, calls about different VMs run in parallel
// over the one connection. Libvirt calls do not take a context: when ctx
// ends first, the method returns an error wrapping hypervisor.ErrUnreachable
// and ctx.Err(), while the libvirt call finishes in the background and
// keeps the VM's name locked until it does.
//
// # Building
//
// This is the only package of the module that uses cgo. By default it
// links against libvirt, so building it needs pkg-config and libvirt's
// headers (Debian: libvirt-dev). With the build tag libvirt_dlopen
// (go build -tags libvirt_dlopen) it builds with a C compiler alone and
// loads libvirt.so.0 at run time, failing with a clear error when the
// library is missing. Packages that do not import libvirthv build without
// cgo.
package libvirthv
