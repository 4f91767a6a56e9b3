package failover

import (
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
)

// InputKind says what an Input reports.
type InputKind uint8

// Input kinds. Each lists the Input fields it uses besides Time.
const (
	// InputStatus: a watched server's status was collected (Status).
	InputStatus InputKind = iota + 1
	// InputTick: time passed (no fields); deadlines and retries fire.
	InputTick
	// InputInventory: the answer to ActionInventory (Server, Images owned
	// by Server, Free and FreeKnown for the watcher's own hypervisor,
	// CanEvacuate when Server's hypervisor can checkpoint; Err).
	InputInventory
	// InputCheckpointed: the answer to ActionCheckpoint (Server, Image with
	// its new Checkpoint and generation, Err).
	InputCheckpointed
	// InputFenced: the answer to ActionFence (Server, Err).
	InputFenced
	// InputStarted: the answer to ActionStartBackup (Server, Image, Err).
	InputStarted
	// InputRestarted: the answer to ActionRestart (Server, Err).
	InputRestarted
)

var inputNames = [...]string{"", "status", "tick", "inventory", "checkpointed", "fenced", "started", "restarted"}

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
	Kind   InputKind
	Time   time.Time
	Server string
	Status *rack.Status

	Images      []imagestore.Image
	Free        hypervisor.Capacity
	FreeKnown   bool
	CanEvacuate bool

	Image imagestore.Image
	Err   error
}

// ActionKind says what an Action asks for.
type ActionKind uint8

// Action kinds. Each lists the Action fields it uses.
const (
	// ActionNotify: report Event to observers.
	ActionNotify ActionKind = iota + 1
	// ActionInventory: read the images owned by Server and the watcher's
	// free capacity; answer with InputInventory.
	ActionInventory
	// ActionCheckpoint: on Server's hypervisor, checkpoint and stop
	// Image.Name before Deadline and record the checkpoint in the store;
	// answer with InputCheckpointed.
	ActionCheckpoint
	// ActionFence: power Server off, confirmed by read-back; answer with
	// InputFenced.
	ActionFence
	// ActionStartBackup: claim Image (at its generation) for the watcher
	// and start it on the watcher's hypervisor, resumed from
	// Image.Checkpoint when set; answer with InputStarted.
	ActionStartBackup
	// ActionRestart: carry out Power on Server (on after a fence, cycle
	// after an evacuation); answer with InputRestarted.
	ActionRestart
)

var actionNames = [...]string{"", "notify", "inventory", "checkpoint", "fence", "start-backup", "restart"}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "action?"
}

// Action is one thing the Engine asks its runner to do.
type Action struct {
	Kind     ActionKind
	Server   string
	Image    imagestore.Image
	Deadline time.Time
	Power    bmc.PowerAction
	Event    Event
}
