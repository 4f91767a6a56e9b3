// Package takeoverrig is the rig the BMC adapters' takeover tests share:
// two servers whose BMC roles come from a real adapter (talking to
// ipmi_sim or to the Redfish test server), the in-process rack manager
// (rack.Local) polling them, in-memory hypervisors (memhv) on shared
// storage, an image store (in-memory unless Config.Store says otherwise),
// and one failover.Monitor on the watcher, which takes the watched
// server's VM over when it fails. Each server runs one protected VM,
// "vm-" plus its name, owned by it.
//
// # The power rule
//
// A host's hypervisor follows the host's REAL power, as the simulator
// behind the adapter knows it (Host.Power), never what the adapter under
// test claims: a fence the adapter reports done but the simulator never
// carried out leaves the VM running there, and the rig reports the second
// copy when the backup starts. The rig reads every host's real power
// every MirrorInterval, and at once before each backup start and before
// each check (RunsOnlyOn, the two-copies check), so no check ever sees a
// lag: power off takes the host's VMs with it (its hypervisor answers
// unreachable), power back on brings the host back empty. A power cycle
// that ends between two reads goes unseen; the takeovers these tests run
// fence a server (off, and it stays off) before anything powers it on.
//
// At most one running copy of each VM: at every mirror read and before
// every backup start, a VM running on two powered hosts is recorded and
// fails the test at cleanup.
//
// Start and the Rig's methods are called from the test goroutine; the
// rig's goroutines end at the test's cleanup.
package takeoverrig
