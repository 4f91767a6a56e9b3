package failover

import (
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/imagestore"
)

// ActionKind says what an Action asks for.
type ActionKind uint8

// Action kinds. Each lists the Action fields it uses. Every kind but
// ActionNotify is answered by an Input carrying the Action's ID; actions
// may run at once and their answers may come back in any order.
const (
	// ActionNotify: report Event to observers. Not answered.
	ActionNotify ActionKind = iota + 1
	// ActionInventory: read the images owned by Server and the watcher's
	// free capacity; answer InputInventory.
	ActionInventory
	// ActionScan: read the images owned by the watcher itself and what
	// its own hypervisor runs; answer InputScanned.
	ActionScan
	// ActionCheckpoint: on Server's hypervisor, checkpoint and stop
	// Image.Name before Deadline and record the checkpoint in the store at
	// Image's generation (Image.CheckpointGeneration set to the generation
	// it is stored at); answer InputCheckpointed.
	ActionCheckpoint
	// ActionFence: power Server off (always sending the command), confirmed
	// by read-back; answer InputFenced. With ByLease the server cannot be
	// powered off (its BMC is gone) but its own watchdog has: record in the
	// lease store that the watcher takes it over, only if Server holds no
	// lease (Leases.Takeover; ErrLeaseHeld if it does).
	ActionFence
	// ActionProbe: ask Server's hypervisor, where it can be reached, for
	// the state of Image.Name; answer InputProbed.
	ActionProbe
	// ActionClaim: compare-and-swap Image (at its generation, as given)
	// to be owned by the watcher; answer InputClaimed.
	ActionClaim
	// ActionStart: start Image on the watcher's hypervisor, resumed from
	// Image.Checkpoint when set; answer InputStarted.
	ActionStart
	// ActionVMState: read the state of Image.Name on the watcher's own
	// hypervisor (a start whose outcome is unknown); answer InputVMState.
	ActionVMState
	// ActionRestart: carry out Power on Server (on after a fence, cycle
	// after an evacuation); answer InputRestarted. With ByLease, first
	// remove the takeover record (Leases.Release) so the server may take a
	// lease again, then try the power-on.
	ActionRestart
)

var actionNames = [...]string{"", "notify", "inventory", "scan", "checkpoint", "fence", "probe", "claim",
	"start", "vm-state", "restart"}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "action?"
}

// answer is the Input kind that answers k.
func (k ActionKind) answer() InputKind {
	switch k {
	case ActionInventory:
		return InputInventory
	case ActionScan:
		return InputScanned
	case ActionCheckpoint:
		return InputCheckpointed
	case ActionFence:
		return InputFenced
	case ActionProbe:
		return InputProbed
	case ActionClaim:
		return InputClaimed
	case ActionStart:
		return InputStarted
	case ActionVMState:
		return InputVMState
	case ActionRestart:
		return InputRestarted
	}
	return 0
}

// Action is one thing the Engine asks its runner to do.
type Action struct {
	// ID identifies the action; its answer carries it back. 0 for
	// ActionNotify.
	ID       uint64
	Kind     ActionKind
	Server   string
	Image    imagestore.Image
	Deadline time.Time
	Power    bmc.PowerAction
	Event    Event
	// ByLease: a fence or restart of a takeover decided by lease (see
	// ActionFence, ActionRestart and lease.go).
	ByLease bool
}
