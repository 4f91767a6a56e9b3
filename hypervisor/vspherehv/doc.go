// Package vspherehv is a hypervisor.Hypervisor for one VMware ESXi host,
// driven through vCenter (or the ESXi host itself) with govmomi.
//
// One *Hypervisor stands for one server of the rack: the ESXi host named in
// Config.Host. It starts backup VMs on that host, stops, suspends, lists and
// captures the VMs registered there, and reports the host's free capacity.
// It implements hypervisor.Hypervisor, hypervisor.Checkpointer,
// hypervisor.CapacityReporter and hypervisor.Capturer.
//
// # Image format
//
// imagestore.Image.Definition holds one of two forms:
//
//   - A datastore path of the VM's .vmx file on a datastore every host
//     reaches, such as "[shared-ds] web1/web1.vmx". Start registers that
//     file on this host's resource pool and powers it on. This is the form
//     Capture writes.
//   - A JSON object {"guestId": "otherGuest64", "datastore": "shared-ds"}.
//     Start creates a new VM named img.Name in that datastore with
//     img.MemoryMiB and img.CPUs and attaches img.Disks (datastore paths of
//     existing .vmdk files) to a new SCSI controller, then powers it on.
//
// img.Checkpoint, when set, is the .vmx path of a VM that Checkpoint
// suspended: vSphere keeps the suspended memory (.vmss) beside the .vmx, and
// powering the re-registered VM on resumes it. Power-on consumes the
// suspended state, so a checkpoint resumes once: Start refuses it unless
// the VM registered from it is still suspended, and unless img.Generation
// is img.CheckpointGeneration+1.
//
// Every datastore path an image names (the .vmx, the create form's
// datastore, disks, the checkpoint) must be on one of Config.Datastores and
// follow the .vmx rules: relative to its datastore, without "..". Before
// powering on a registered .vmx, Start also checks the files its devices
// attach the same way. Refusals wrap hypervisor.ErrBadImage and name the
// path.
//
// # Takeover
//
// Before registering, Start looks for a stale copy of the VM (same name or
// same .vmx) on another host. A copy on a host that is down (not connected,
// or powered off) is taken out of the inventory: first powered off in the
// inventory if vCenter still believes it runs, then unregistered. The
// caller has fenced that host; vCenter merely has not noticed. A copy that
// runs on a host that vCenter reports up is never touched. After a fence,
// vCenter takes about a minute to mark the host not responding, so Start
// waits up to Config.StaleHostWait for that (or for the copy to stop), then
// refuses with hypervisor.ErrNameTaken (not ErrAlreadyRunning, which means
// "runs here" and which callers take as success). Start also refuses a target host that is
// itself down, not connected or in maintenance mode with
// hypervisor.ErrHostDown: vCenter's simulator would power a VM on there.
//
// # Connection
//
// TLS verification is on by default. Config.RootCAs adds trusted roots and
// Config.Thumbprint pins the server certificate (SHA-1 or SHA-256, as vSphere
// prints it). The session is kept alive by a periodic call and, when vCenter
// drops it anyway (NotAuthenticated), the adapter logs in again and retries
// the call once. Credentials never appear in errors, logs or %v output.
//
// # Concurrency
//
// All methods of *Hypervisor are safe for concurrent use. Operations on the
// same VM name through one *Hypervisor are serialized; operations on
// different names run in parallel. Close stops the keep-alive and logs out.
package vspherehv
