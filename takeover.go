package failover

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

type vmPhase uint8

const (
	vmCheckpointQueued vmPhase = iota + 1 // evacuation: waiting for a checkpoint slot
	vmCheckpointing                       // checkpoint asked
	vmNeedsFence                          // not checkpointed: cold start after the fence
	vmWaitFence                           // plain takeover: start after the fence
	vmQueued                              // ready to start, waiting for a start slot
	vmProbing                             // asking its last host whether it still runs
	vmClaiming                            // claim asked
	vmStarting                            // start asked
	vmVerifying                           // start outcome unknown: state asked
	vmVerifyWait                          // start outcome unknown: state asked at retryAt
	vmVerifyQueued                        // start outcome unknown: waiting for a slot to ask its state
	vmRetry                               // attempt failed; queued again at retryAt
	vmRunning                             // backup runs
	vmFailed                              // given up on; alerted
)

// vmState is one VM of a takeover (or of the watcher's own reconcile).
type vmState struct {
	img      imagestore.Image // as read before the claim, checkpoint included
	claimed  imagestore.Image // as stored after the claim
	from     string           // the owner the claim expects: the failed server, or the watcher itself
	probe    string           // whose hypervisor to ask before starting, or ""
	phase    vmPhase
	starts   int // attempts so far
	verifies int
	reclaims int
	resumed  bool
	retryAt  time.Time
	waiting  uint64 // ID of the action whose answer moves the VM on
}

// peerState is the engine's view of one watched server (or, for e.recon,
// of the watcher's own reconcile).
type peerState struct {
	name  string
	phase Phase

	// detection
	count       [numCauses]int
	since       [numCauses]time.Time
	fastN       [numCauses]int
	fastSince   [numCauses]time.Time
	danger      map[string]bool
	lastStatus  time.Time
	lastFull    time.Time
	unreachable int
	alertedLost bool

	// takeover
	cause       Cause
	detectedAt  time.Time
	degraded    bool
	canEvacuate bool
	vms         []vmState
	noRoom      map[string]bool // VMs left out for want of capacity
	// stable: the last inventory read found nothing new with nothing
	// left to do, so the server may be restarted; reading: that read is
	// under way.
	stable      bool
	reading     bool
	deadline    time.Time // evacuation
	retryAt     time.Time // inventory or fence retry, or rescan
	fences      int
	fenced      bool
	settleUntil time.Time
	alertedHeld bool
	ckpts       int // outstanding checkpoints

	// recovery
	healthy         int
	recoverBy       time.Time
	alertedRecovery bool

	// restartFailed: the restart after the takeover failed (a BMC gone
	// with its server); it is asked again once the BMC reports power off.
	restartFailed bool

	// takeover by lease (lease.go)
	wd      watchdogSeen
	lease   leaseView
	byLease bool // this takeover was decided by lease: no power-off to confirm

	// prediction (predict.go): predicted marks a takeover started by a
	// prediction, which never fences.
	pred      predictor
	predicted bool
}

func (ps *peerState) vm(name string) *vmState {
	for i := range ps.vms {
		if ps.vms[i].img.Name == name {
			return &ps.vms[i]
		}
	}
	return nil
}

// checkpointsLeft reports whether a VM still waits for its checkpoint:
// only then does the evacuation deadline have anything to do.
func (ps *peerState) checkpointsLeft() bool {
	for i := range ps.vms {
		if p := ps.vms[i].phase; p == vmCheckpointQueued || p == vmCheckpointing {
			return true
		}
	}
	return false
}

func capacityOf(img imagestore.Image) hypervisor.Capacity {
	return hypervisor.Capacity{MemoryMiB: img.MemoryMiB, CPUs: img.CPUs}
}

// usable drops a checkpoint that is not the image's latest change: its
// memory would be older than the disks.
func usable(img imagestore.Image) imagestore.Image {
	if img.Checkpoint != "" && img.Generation != img.CheckpointGeneration {
		img.Checkpoint, img.CheckpointGeneration = "", 0
	}
	return img
}

func (e *Engine) inventory(now time.Time, ps *peerState, in Input) {
	if ps.phase != PhaseInventory {
		return
	}
	if in.Err != nil {
		ps.retryAt = now.Add(e.p.RetryInterval)
		e.alert(now, ps, ps.cause, "", fmt.Sprintf("cannot read image store: %v; retrying in %v", in.Err, e.p.RetryInterval))
		return
	}
	e.addVMs(now, ps, in, vmWaitFence)
	ps.canEvacuate = in.CanEvacuate
	if e.storm.active(e.p.StormFraction) {
		ps.phase = PhaseHeld
		ps.healthy = 0
		e.holdAlert(now, ps)
		return
	}
	e.proceed(now, ps)
}

// addVMs adds the images of in not yet in the takeover, highest
// priority first, as long as they fit on the watcher.
func (e *Engine) addVMs(now time.Time, ps *peerState, in Input, phase vmPhase) {
	imgs := append([]imagestore.Image(nil), in.Images...)
	imagestore.SortByPriority(imgs)
	free := in.Free.Sub(e.reserved())
	for _, img := range imgs {
		if ps.vm(img.Name) != nil {
			continue
		}
		need := capacityOf(img)
		if ps.noRoom[img.Name] {
			continue // alerted at the first read
		}
		if in.FreeKnown && !free.Fits(need) {
			if ps.noRoom == nil {
				ps.noRoom = map[string]bool{}
			}
			ps.noRoom[img.Name] = true
			e.alert(now, ps, ps.cause, img.Name, fmt.Sprintf("not taken over: needs %v, %s has %v free", need, e.self, free))
			continue
		}
		if in.FreeKnown {
			free = free.Sub(need)
		}
		ps.vms = append(ps.vms, vmState{img: usable(img), from: ps.name, probe: ps.name, phase: phase})
	}
}

// reserved is the capacity of the VMs this engine is about to start on
// the watcher (its reconcile and other takeovers): the hypervisor's free
// capacity does not show them yet.
func (e *Engine) reserved() hypervisor.Capacity {
	var c hypervisor.Capacity
	add := func(ps *peerState) {
		if ps == nil {
			return
		}
		for i := range ps.vms {
			switch ps.vms[i].phase {
			case vmRunning, vmFailed:
			default:
				need := capacityOf(ps.vms[i].img)
				c.MemoryMiB += need.MemoryMiB
				c.CPUs += need.CPUs
			}
		}
	}
	add(e.recon)
	for _, n := range e.names {
		add(e.peers[n])
	}
	return c
}

func (e *Engine) holdAlert(now time.Time, ps *peerState) {
	if ps.alertedHeld {
		return
	}
	ps.alertedHeld = true
	names := make([]string, len(ps.vms))
	for i := range ps.vms {
		names[i] = ps.vms[i].img.Name
	}
	e.notify(now, ps, Event{Type: EventAlert, Cause: ps.cause, VMs: names,
		Message: fmt.Sprintf("storm: %d of %d servers failed; takeover held (no fence, no start) until no more than %.0f%% have: %s",
			e.storm.failed, e.storm.size, 100*e.p.StormFraction, strings.Join(names, ", "))})
}

// proceed evacuates a degraded server or fences a failed one.
func (e *Engine) proceed(now time.Time, ps *peerState) {
	if ps.predicted && !(e.p.Evacuate && ps.canEvacuate && len(ps.vms) > 0) {
		e.proceedPredicted(now, ps)
		return
	}
	if ps.degraded && e.p.Evacuate && ps.canEvacuate && len(ps.vms) > 0 {
		ps.phase = PhaseEvacuating
		ps.deadline = now.Add(e.p.EvacuationTimeout)
		e.notify(now, ps, Event{Type: EventEvacuating,
			Message: fmt.Sprintf("checkpointing %d VMs before %v", len(ps.vms), e.p.EvacuationTimeout)})
		for i := range ps.vms {
			ps.vms[i].phase = vmCheckpointQueued
		}
		return
	}
	e.fence(ps)
}

func (e *Engine) fence(ps *peerState) {
	ps.phase = PhaseFencing
	ps.fences++
	e.act(Action{Kind: ActionFence, Server: ps.name, ByLease: ps.byLease}, pending{server: ps.name})
}

func (e *Engine) tickPeer(now time.Time, ps *peerState) {
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	switch ps.phase {
	case PhaseInventory:
		if due(ps.retryAt) {
			ps.retryAt = time.Time{}
			e.act(Action{Kind: ActionInventory, Server: ps.name}, pending{server: ps.name})
		}
	case PhaseHeld:
		// Released once the storm is over, unless the server's last full
		// status was healthy: it is coming back, and is judged by the
		// following ones.
		if !e.storm.active(e.p.StormFraction) && ps.healthy == 0 {
			e.notify(now, ps, Event{Type: EventAlert, Cause: ps.cause,
				Message: fmt.Sprintf("storm over (%d of %d servers failed); taking over", e.storm.failed, e.storm.size)})
			e.proceed(now, ps)
		}
	case PhaseFencing:
		switch {
		case ps.fenced && due(ps.retryAt):
			ps.retryAt = time.Time{}
			e.readFenced(ps)
		case due(ps.retryAt):
			ps.retryAt = time.Time{}
			e.fence(ps)
		}
		if ps.fenced && due(ps.settleUntil) {
			ps.settleUntil = time.Time{}
			e.readFenced(ps)
		}
	case PhaseEvacuating, PhaseStarting:
		if ps != e.recon && due(ps.retryAt) {
			ps.retryAt, ps.reading = time.Time{}, true
			e.readFenced(ps)
		}
		e.tickVMs(now, ps)
		if ps.phase == PhaseEvacuating {
			e.evacuationDeadline(now, ps)
		}
	case PhaseRecovering:
		if !ps.alertedRecovery && due(ps.recoverBy) {
			ps.alertedRecovery = true
			e.alert(now, ps, ps.cause, "", fmt.Sprintf("not healthy %v after restart", e.p.RecoveryTimeout))
		}
	}
}

func (e *Engine) tickVMs(now time.Time, ps *peerState) {
	for i := range ps.vms {
		v := &ps.vms[i]
		if now.Before(v.retryAt) {
			continue
		}
		switch v.phase {
		case vmRetry:
			v.phase = vmQueued
		case vmVerifyWait:
			v.phase = vmVerifyQueued // pump asks when a slot is free
		}
	}
	if ps == e.recon && !ps.retryAt.IsZero() && !now.Before(ps.retryAt) {
		ps.retryAt = time.Time{}
		e.act(Action{Kind: ActionScan, Server: e.self}, pending{})
	}
}

// evacuationDeadline fences for every VM still waiting for its checkpoint
// once the evacuation deadline has passed.
func (e *Engine) evacuationDeadline(now time.Time, ps *peerState) {
	if now.Before(ps.deadline) {
		return
	}
	late := false
	for i := range ps.vms {
		if p := ps.vms[i].phase; p == vmCheckpointing || p == vmCheckpointQueued {
			ps.vms[i].phase = vmNeedsFence
			late = true
		}
	}
	if late {
		e.alert(now, ps, ps.cause, "", fmt.Sprintf("evacuation not done within %v; %s", e.p.EvacuationTimeout, ps.thenFence("fencing")))
		e.finish(now, ps)
	}
}

func (e *Engine) checkpointed(now time.Time, ps *peerState, name string, in Input) {
	ps.ckpts--
	v := ps.vm(name)
	if ps.phase != PhaseEvacuating || v == nil || v.phase != vmCheckpointing || v.waiting != in.ID {
		return // late: the VM is handled by the fence path now
	}
	if in.Err != nil {
		v.phase = vmNeedsFence
		e.alert(now, ps, "", v.img.Name, fmt.Sprintf("checkpoint failed: %v; %s", in.Err, ps.thenFence("will fence")))
	} else {
		v.img = usable(in.Image)
		v.phase = vmQueued
		e.notify(now, ps, Event{Type: EventEvacuated, VM: v.img.Name})
	}
	e.finish(now, ps)
}

func (e *Engine) fenced(now time.Time, ps *peerState, err error) {
	if ps.phase != PhaseFencing || ps.fenced {
		return
	}
	if err != nil && ps.byLease && errors.Is(err, ErrLeaseHeld) {
		// The server reached the lease store again before the takeover
		// was recorded: it is alive. Nothing of it was touched yet.
		ps.phase = PhaseWatching
		ps.lease.held, ps.lease.goneAt = true, time.Time{} // until the store says otherwise
		e.alert(now, ps, ps.cause, "", fmt.Sprintf("takeover by lease refused: %v; watching again", err))
		ps.detectedAt, ps.cause, ps.vms, ps.noRoom, ps.byLease = time.Time{}, CauseNone, nil, nil, false
		return
	}
	if err != nil {
		what := "failed"
		if errors.Is(err, bmc.ErrIndeterminate) {
			what = "indeterminate"
		}
		if ps.fences < e.p.FenceAttempts {
			ps.retryAt = now.Add(e.p.RetryInterval)
			e.alert(now, ps, ps.cause, "", fmt.Sprintf("fence attempt %d/%d %s: %v; retrying in %v", ps.fences, e.p.FenceAttempts, what, err, e.p.RetryInterval))
			return
		}
		ps.phase = PhaseStuck
		ps.healthy = 0
		var names []string
		for i := range ps.vms {
			v := &ps.vms[i]
			if v.phase == vmNeedsFence || v.phase == vmWaitFence {
				names = append(names, v.img.Name)
				e.alert(now, ps, ps.cause, v.img.Name, fmt.Sprintf("not taken over: fence %s after %d attempts: %v", what, ps.fences, err))
			}
		}
		e.notify(now, ps, Event{Type: EventAlert, Cause: ps.cause, VMs: names,
			Message: fmt.Sprintf("fence not confirmed; VMs left in place: %s", strings.Join(names, ", "))})
		return
	}
	if ps.byLease {
		e.notify(now, ps, Event{Type: EventFenced, Message: "by its own watchdog (BMC unreachable, lease expired); takeover recorded in the lease store"})
	} else {
		e.notify(now, ps, Event{Type: EventFenced})
	}
	ps.fenced = true
	if e.p.FenceSettle > 0 {
		ps.settleUntil = now.Add(e.p.FenceSettle)
		return
	}
	e.readFenced(ps)
}

// readFenced reads the fenced server's images again: between the first
// inventory and the fence it may have claimed more (an evacuation or a
// takeover of its own), and once it is off nothing it owns runs anywhere.
func (e *Engine) readFenced(ps *peerState) {
	e.act(Action{Kind: ActionInventory, Server: ps.name}, pending{server: ps.name, postFence: true})
}

// fencedInventory takes over what the failed server owns now: read once
// the fence is confirmed, and again before the restart until a read finds
// nothing new (a BMC that reports off early leaves the host running a
// little longer, and it may claim meanwhile). A failed read is retried:
// going on without it could leave a VM the server claimed late behind.
func (e *Engine) fencedInventory(now time.Time, ps *peerState, in Input) {
	final := ps.phase == PhaseStarting || ps.phase == PhaseEvacuating
	if !final && (ps.phase != PhaseFencing || !ps.fenced) {
		return
	}
	ps.reading = false
	if in.Err != nil {
		ps.retryAt = now.Add(e.p.RetryInterval)
		e.alert(now, ps, ps.cause, "", fmt.Sprintf("cannot read image store before taking over the rest: %v; retrying in %v", in.Err, e.p.RetryInterval))
		return
	}
	n := len(ps.vms)
	e.addVMs(now, ps, in, vmWaitFence)
	ps.stable = len(ps.vms) == n && ps.done()
	if !final {
		e.afterFence(now, ps)
		return
	}
	if ps.fenced {
		for i := n; i < len(ps.vms); i++ {
			ps.vms[i].phase = vmQueued
		}
	}
	e.finish(now, ps)
}

// done reports whether every VM is running or given up on.
func (ps *peerState) done() bool {
	for i := range ps.vms {
		if p := ps.vms[i].phase; p != vmRunning && p != vmFailed {
			return false
		}
	}
	return true
}

// afterFence queues every VM that waited for the fence.
func (e *Engine) afterFence(now time.Time, ps *peerState) {
	ps.phase = PhaseStarting
	for i := range ps.vms {
		if v := &ps.vms[i]; v.phase == vmNeedsFence || v.phase == vmWaitFence {
			v.phase = vmQueued
		}
	}
	e.finish(now, ps)
}

// retryable reports whether a failed start may succeed if tried again: not
// when the image is bad, the VM is owned elsewhere or does not fit.
func retryable(err error) bool {
	for _, final := range []error{hypervisor.ErrBadImage, hypervisor.ErrNoCapacity, ErrClaimedElsewhere} {
		if errors.Is(err, final) {
			return false
		}
	}
	return true
}

// finish moves a takeover on once nothing is outstanding: fence what could
// not be evacuated, then restart the failed server.
func (e *Engine) finish(now time.Time, ps *peerState) {
	if ps == e.recon || (ps.phase != PhaseEvacuating && ps.phase != PhaseStarting) {
		return
	}
	fence := false
	for i := range ps.vms {
		switch ps.vms[i].phase {
		case vmRunning, vmFailed:
		case vmNeedsFence, vmWaitFence:
			fence = true
		default:
			return
		}
	}
	if ps.predicted {
		e.finishPredicted(now, ps, fence)
		return
	}
	if fence {
		e.fence(ps)
		return
	}
	if !ps.stable {
		if ps.retryAt.IsZero() && !ps.reading {
			ps.reading = true
			e.readFenced(ps)
		}
		return
	}
	ps.phase = PhaseRestarting
	act := bmc.PowerActionCycle
	if ps.fenced {
		act = bmc.PowerActionOn
	}
	e.act(Action{Kind: ActionRestart, Server: ps.name, Power: act, ByLease: ps.byLease}, pending{server: ps.name})
}

func (e *Engine) restarted(now time.Time, ps *peerState, err error) {
	if ps.phase != PhaseRestarting {
		return
	}
	ps.phase = PhaseRecovering
	ps.healthy, ps.alertedRecovery = 0, false
	ps.recoverBy = now.Add(e.p.RecoveryTimeout)
	clear(ps.danger)
	ps.restartFailed = err != nil
	if err != nil {
		e.alert(now, ps, ps.cause, "", fmt.Sprintf("restart failed: %v; asked again when its BMC reports it off", err))
		return
	}
	e.notify(now, ps, Event{Type: EventRestarted})
}
