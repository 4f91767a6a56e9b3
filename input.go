package failover

import (
	"time"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// InputKind says what an Input reports.
type InputKind uint8

// Input kinds. Each lists the Input fields it uses besides Time; every
// answer carries the ID of the Action it answers.
const (
	// InputStatus: a watched server's status was collected (Status).
	InputStatus InputKind = iota + 1
	// InputTick: time passed (no fields); deadlines and retries fire.
	InputTick
	// InputBoot: the watcher's monitor (re)started with no memory of what
	// it was doing; the engine reconciles what this server owns.
	InputBoot
	// InputInventory answers ActionInventory: Images owned by the server,
	// Free and FreeKnown for the watcher's own hypervisor, CanEvacuate
	// when the server's hypervisor can checkpoint; Err.
	InputInventory
	// InputScanned answers ActionScan: Images owned by the watcher and
	// Running, the names its own hypervisor runs (or holds paused); Err.
	InputScanned
	// InputCheckpointed answers ActionCheckpoint: Image as stored with its
	// new Checkpoint; Err.
	InputCheckpointed
	// InputFenced answers ActionFence: Err.
	InputFenced
	// InputProbed answers ActionProbe: State of the VM on the server
	// asked; Err (the hypervisor could not be asked).
	InputProbed
	// InputClaimed answers ActionClaim: Image as stored after the claim;
	// Err; on a stale generation Current is the image as stored now, if
	// it could be read.
	InputClaimed
	// InputStarted answers ActionStart: Err.
	InputStarted
	// InputVMState answers ActionVMState: State on the watcher's own
	// hypervisor; Err.
	InputVMState
	// InputRestarted answers ActionRestart: Err.
	InputRestarted
	// InputLease: the lease store reports a watched server's lease
	// (Lease). Not an answer; the runner sends one per server when it
	// (re)connects to the store and one on each change.
	InputLease
	// InputWatchdogSeen: restores, after a restart of the watcher, what it
	// last saw of Server's watchdog (Watchdog), as journaled from an
	// EventWatchdogSeen. Ignored once a full status of Server has come.
	InputWatchdogSeen
)

var inputNames = [...]string{"", "status", "tick", "boot", "inventory", "scanned", "checkpointed", "fenced",
	"probed", "claimed", "started", "vm-state", "restarted", "lease", "watchdog-seen"}

func (k InputKind) String() string {
	if int(k) < len(inputNames) {
		return inputNames[k]
	}
	return "input?"
}

// Input is one event fed to the Engine. Only the fields its Kind lists are
// read. The Engine keeps Images and Status after Step returns; the caller
// must not change them.
type Input struct {
	Kind InputKind
	Time time.Time
	// ID is the answered Action's ID. An answer whose ID the engine does
	// not know (from before a restart, or answered twice) is ignored.
	ID     uint64
	Status *rack.Status

	Images      []imagestore.Image
	Running     []string
	Free        hypervisor.Capacity
	FreeKnown   bool
	CanEvacuate bool

	Image   imagestore.Image
	Current *imagestore.Image
	State   hypervisor.VMState
	Err     error

	Lease    Lease
	Server   string
	Watchdog watchdog.State
}
