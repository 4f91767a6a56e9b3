package failover

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// Phase is where the engine stands with one watched server.
type Phase uint8

// Phases of a watched server, in the order a takeover goes through them.
const (
	PhaseWatching   Phase = iota // healthy or not yet judged failed
	PhaseInventory               // failed; reading its images
	PhaseEvacuating              // degraded; checkpointing its VMs
	PhaseFencing                 // powering it off
	PhaseStarting                // starting its VMs on the watcher
	PhaseRestarting              // powering it back on
	PhaseRecovering              // restarted; waiting for it to report healthy
	PhaseStuck                   // fence never confirmed; its VMs stay put, an alert says so
)

var phaseNames = [...]string{"watching", "inventory", "evacuating", "fencing", "starting", "restarting", "recovering", "stuck"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "phase?"
}

type vmPhase uint8

const (
	vmCheckpointing vmPhase = iota + 1 // checkpoint asked
	vmNeedsFence                       // not checkpointed: cold start after the fence
	vmWaitFence                        // plain takeover: start after the fence
	vmStarting                         // start asked
	vmRetry                            // start failed; asked again at retryAt
	vmRunning                          // backup runs
	vmFailed                           // start failed; alerted
)

type vmState struct {
	img     imagestore.Image
	phase   vmPhase
	starts  int       // start attempts so far
	retryAt time.Time // when phase is vmRetry
}

type peerState struct {
	phase Phase

	// detection
	count       [numCauses]int
	since       [numCauses]time.Time
	danger      map[string]bool
	unreachable int
	alertedLost bool

	// takeover
	cause      Cause
	detectedAt time.Time
	degraded   bool
	vms        []vmState
	deadline   time.Time
	retryAt    time.Time
	fences     int
	fenced     bool

	// recovery
	healthy         int
	recoverBy       time.Time
	alertedRecovery bool
}

// Engine decides, for one watcher, when a watched server has failed and
// what to do about it. It is a pure state machine: Step takes an Input
// and returns Actions, with no IO, clock, goroutine or randomness, so the
// same Inputs always give the same Actions. An Engine is not safe for
// concurrent use; its runner (Monitor, or a simulation) owns it.
type Engine struct {
	self  string
	p     Policy
	peers map[string]*peerState
	out   []Action
}

// NewEngine returns an engine for the watcher named self.
func NewEngine(self string, p Policy) (*Engine, error) {
	if self == "" {
		return nil, fmt.Errorf("%w: engine needs the watcher's name", ErrInvalidConfig)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Engine{self: self, p: p, peers: map[string]*peerState{}}, nil
}

// Phase returns where the engine stands with server.
func (e *Engine) Phase(server string) Phase {
	if ps, ok := e.peers[server]; ok {
		return ps.phase
	}
	return PhaseWatching
}

// Step feeds one input and returns the actions it calls for, in order.
// The returned slice is reused by the next Step: consume it first.
func (e *Engine) Step(in Input) []Action {
	e.out = e.out[:0]
	switch in.Kind {
	case InputTick:
		for _, name := range e.sortedPeers() {
			e.tick(in.Time, name, e.peers[name])
		}
		return e.out
	case InputStatus:
		if in.Status == nil {
			return e.out
		}
		in.Server = in.Status.Server
	}
	ps := e.peer(in.Server)
	switch in.Kind {
	case InputStatus:
		e.status(in.Time, in.Server, ps, in)
	case InputInventory:
		e.inventory(in.Time, in.Server, ps, in)
	case InputCheckpointed:
		e.checkpointed(in.Time, in.Server, ps, in)
	case InputFenced:
		e.fenced(in.Time, in.Server, ps, in.Err)
	case InputStarted:
		e.started(in.Time, in.Server, ps, in)
	case InputRestarted:
		e.restarted(in.Time, in.Server, ps, in.Err)
	}
	return e.out
}

func (e *Engine) peer(name string) *peerState {
	ps, ok := e.peers[name]
	if !ok {
		ps = &peerState{danger: map[string]bool{}}
		e.peers[name] = ps
	}
	return ps
}

func (e *Engine) sortedPeers() []string {
	names := make([]string, 0, len(e.peers))
	for n := range e.peers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (e *Engine) emit(a Action) { e.out = append(e.out, a) }

func (e *Engine) notify(now time.Time, server string, ps *peerState, ev Event) {
	ev.Time, ev.Server, ev.Peer = now, server, e.self
	if ev.Cause == "" && ev.Type != EventAlert {
		ev.Cause = ps.cause
	}
	if !ps.detectedAt.IsZero() && ev.Type != EventDetected {
		ev.Since = now.Sub(ps.detectedAt)
	}
	e.emit(Action{Kind: ActionNotify, Server: server, Event: ev})
}

func (e *Engine) alert(now time.Time, server string, ps *peerState, cause Cause, vm, msg string) {
	e.notify(now, server, ps, Event{Type: EventAlert, Cause: cause, VM: vm, Message: msg})
}

func (e *Engine) status(now time.Time, server string, ps *peerState, in Input) {
	st := in.Status
	if !st.Reachable {
		ps.count = [numCauses]int{}
		ps.healthy = 0
		ps.unreachable++
		if ps.unreachable >= e.p.UnreachableAlertPolls && !ps.alertedLost {
			ps.alertedLost = true
			e.alert(now, server, ps, CauseBMCUnreachable, "",
				fmt.Sprintf("BMC unreachable for %d polls (%s); no takeover without a confirmed fence", ps.unreachable, st.Err))
		}
		return
	}
	ps.unreachable, ps.alertedLost = 0, false
	held, hits := e.judge(st, ps.danger)

	switch ps.phase {
	case PhaseWatching:
	case PhaseRecovering, PhaseStuck:
		if held == ([numCauses]bool{}) {
			ps.healthy++
		} else {
			ps.healthy = 0
		}
		if ps.healthy >= e.p.DebouncePolls {
			ps.phase = PhaseWatching
			ps.count = [numCauses]int{}
			e.notify(now, server, ps, Event{Type: EventRecovered, Message: "reports healthy; watching again"})
			ps.detectedAt, ps.cause, ps.vms = time.Time{}, CauseNone, nil
		}
		return
	default:
		return // a takeover is under way
	}

	fired := -1
	for c := range numCauses {
		if !held[c] {
			ps.count[c] = 0
			continue
		}
		if ps.count[c] == 0 {
			ps.since[c] = now
		}
		ps.count[c]++
		if fired < 0 && ps.count[c] >= e.p.DebouncePolls && now.Sub(ps.since[c]) >= e.p.DebounceDwell {
			fired = c
		}
	}
	if fired < 0 {
		return
	}
	ps.cause = causeOrder[fired]
	ps.detectedAt = now
	ps.degraded = (ps.cause == CauseTemperature || ps.cause == CauseVoltage) && st.HealthErr == "" && st.Health.Power == bmc.PowerOn
	ps.fences, ps.fenced, ps.vms = 0, false, nil
	ev := Event{Type: EventDetected, Cause: ps.cause}
	if h := hits[fired]; h.name != "" {
		ev.Sensor, ev.Value, ev.Unit, ev.Threshold = h.name, h.value, h.unit, h.threshold
	}
	if ps.cause == CauseBladeFault && st.Health.Detail != "" {
		ev.Message = st.Health.Detail
	}
	e.notify(now, server, ps, ev)
	ps.phase = PhaseInventory
	e.emit(Action{Kind: ActionInventory, Server: server})
}

func (e *Engine) tick(now time.Time, server string, ps *peerState) {
	switch ps.phase {
	case PhaseInventory:
		if !ps.retryAt.IsZero() && !now.Before(ps.retryAt) {
			ps.retryAt = time.Time{}
			e.emit(Action{Kind: ActionInventory, Server: server})
		}
	case PhaseFencing:
		if !ps.retryAt.IsZero() && !now.Before(ps.retryAt) {
			ps.retryAt = time.Time{}
			e.fence(server, ps)
		}
	case PhaseStarting, PhaseEvacuating:
		for i := range ps.vms {
			if v := &ps.vms[i]; v.phase == vmRetry && !now.Before(v.retryAt) {
				e.startVM(server, v)
			}
		}
		if ps.phase == PhaseEvacuating {
			e.evacuationDeadline(now, server, ps)
		}
	case PhaseRecovering:
		if !ps.alertedRecovery && !now.Before(ps.recoverBy) {
			ps.alertedRecovery = true
			e.alert(now, server, ps, ps.cause, "", fmt.Sprintf("not healthy %v after restart", e.p.RecoveryTimeout))
		}
	}
}

// evacuationDeadline fences for every VM still being checkpointed once the
// evacuation deadline has passed.
func (e *Engine) evacuationDeadline(now time.Time, server string, ps *peerState) {
	if now.Before(ps.deadline) {
		return
	}
	late := false
	for i := range ps.vms {
		if ps.vms[i].phase == vmCheckpointing {
			ps.vms[i].phase = vmNeedsFence
			late = true
		}
	}
	if late {
		e.alert(now, server, ps, ps.cause, "", fmt.Sprintf("evacuation not done within %v; fencing", e.p.EvacuationTimeout))
		e.finish(now, server, ps)
	}
}

func (e *Engine) inventory(now time.Time, server string, ps *peerState, in Input) {
	if ps.phase != PhaseInventory {
		return
	}
	if in.Err != nil {
		ps.retryAt = now.Add(e.p.RetryInterval)
		e.alert(now, server, ps, ps.cause, "", fmt.Sprintf("cannot read image store: %v; retrying in %v", in.Err, e.p.RetryInterval))
		return
	}
	imgs := in.Images
	imagestore.SortByPriority(imgs)
	free := in.Free
	for _, img := range imgs {
		need := capacityOf(img)
		if in.FreeKnown && !free.Fits(need) {
			e.alert(now, server, ps, ps.cause, img.Name,
				fmt.Sprintf("not taken over: needs %v, %s has %v free", need, e.self, free))
			continue
		}
		if in.FreeKnown {
			free = free.Sub(need)
		}
		ps.vms = append(ps.vms, vmState{img: img, phase: vmWaitFence})
	}
	if ps.degraded && e.p.Evacuate && in.CanEvacuate && len(ps.vms) > 0 {
		ps.phase = PhaseEvacuating
		ps.deadline = now.Add(e.p.EvacuationTimeout)
		e.notify(now, server, ps, Event{Type: EventEvacuating,
			Message: fmt.Sprintf("checkpointing %d VMs before %v", len(ps.vms), e.p.EvacuationTimeout)})
		for i := range ps.vms {
			ps.vms[i].phase = vmCheckpointing
			e.emit(Action{Kind: ActionCheckpoint, Server: server, Image: ps.vms[i].img, Deadline: ps.deadline})
		}
		return
	}
	e.fence(server, ps)
}

func (e *Engine) fence(server string, ps *peerState) {
	ps.phase = PhaseFencing
	ps.fences++
	e.emit(Action{Kind: ActionFence, Server: server})
}

func (e *Engine) vm(ps *peerState, name string) *vmState {
	for i := range ps.vms {
		if ps.vms[i].img.Name == name {
			return &ps.vms[i]
		}
	}
	return nil
}

func (e *Engine) checkpointed(now time.Time, server string, ps *peerState, in Input) {
	v := e.vm(ps, in.Image.Name)
	if ps.phase != PhaseEvacuating || v == nil || v.phase != vmCheckpointing {
		return // late: the VM is handled by the fence path now
	}
	if in.Err != nil {
		v.phase = vmNeedsFence
		e.notify(now, server, ps, Event{Type: EventAlert, VM: v.img.Name, Message: fmt.Sprintf("checkpoint failed: %v; will fence", in.Err)})
	} else {
		v.img = in.Image
		e.notify(now, server, ps, Event{Type: EventEvacuated, VM: v.img.Name})
		e.startVM(server, v)
	}
	e.finish(now, server, ps)
}

func (e *Engine) fenced(now time.Time, server string, ps *peerState, err error) {
	if ps.phase != PhaseFencing {
		return
	}
	if err != nil {
		what := "failed"
		if errors.Is(err, bmc.ErrIndeterminate) {
			what = "indeterminate"
		}
		if ps.fences < e.p.FenceAttempts {
			ps.retryAt = now.Add(e.p.RetryInterval)
			e.alert(now, server, ps, ps.cause, "", fmt.Sprintf("fence attempt %d/%d %s: %v; retrying in %v", ps.fences, e.p.FenceAttempts, what, err, e.p.RetryInterval))
			return
		}
		ps.phase = PhaseStuck
		ps.healthy = 0
		var names []string
		for i := range ps.vms {
			v := &ps.vms[i]
			if v.phase == vmNeedsFence || v.phase == vmWaitFence {
				names = append(names, v.img.Name)
				e.alert(now, server, ps, ps.cause, v.img.Name, fmt.Sprintf("not taken over: fence %s after %d attempts: %v", what, ps.fences, err))
			}
		}
		e.alert(now, server, ps, ps.cause, "", fmt.Sprintf("fence not confirmed; VMs left in place: %s", strings.Join(names, ", ")))
		return
	}
	e.notify(now, server, ps, Event{Type: EventFenced})
	ps.fenced = true
	ps.phase = PhaseStarting
	for i := range ps.vms {
		v := &ps.vms[i]
		if v.phase == vmNeedsFence || v.phase == vmWaitFence {
			e.startVM(server, v)
		}
	}
	e.finish(now, server, ps)
}

func (e *Engine) startVM(server string, v *vmState) {
	v.phase = vmStarting
	v.starts++
	e.emit(Action{Kind: ActionStartBackup, Server: server, Image: v.img})
}

// retryable reports whether a failed start may succeed if tried again: not
// when the image is bad, the claim was lost or the VM does not fit.
func retryable(err error) bool {
	for _, final := range []error{hypervisor.ErrBadImage, hypervisor.ErrNoCapacity, imagestore.ErrStaleGeneration, ErrClaimedElsewhere} {
		if errors.Is(err, final) {
			return false
		}
	}
	return true
}

func (e *Engine) started(now time.Time, server string, ps *peerState, in Input) {
	v := e.vm(ps, in.Image.Name)
	if v == nil || v.phase != vmStarting {
		return
	}
	if in.Err != nil {
		if v.starts < e.p.StartAttempts && retryable(in.Err) {
			v.phase, v.retryAt = vmRetry, now.Add(e.p.RetryInterval)
			e.alert(now, server, ps, ps.cause, v.img.Name, fmt.Sprintf("start attempt %d/%d on %s failed: %v; retrying in %v",
				v.starts, e.p.StartAttempts, e.self, in.Err, e.p.RetryInterval))
			return
		}
		v.phase = vmFailed
		e.alert(now, server, ps, ps.cause, v.img.Name, fmt.Sprintf("backup did not start on %s after %d attempts: %v", e.self, v.starts, in.Err))
	} else {
		v.phase = vmRunning
		e.notify(now, server, ps, Event{Type: EventBackupStarted, VM: v.img.Name, Resumed: in.Image.Checkpoint != ""})
	}
	e.finish(now, server, ps)
}

// finish moves a takeover on once nothing is outstanding: fence what could
// not be evacuated, then restart the failed server.
func (e *Engine) finish(now time.Time, server string, ps *peerState) {
	if ps.phase != PhaseEvacuating && ps.phase != PhaseStarting {
		return
	}
	fence := false
	for i := range ps.vms {
		switch ps.vms[i].phase {
		case vmCheckpointing, vmStarting, vmRetry:
			return
		case vmNeedsFence, vmWaitFence:
			fence = true
		}
	}
	if fence {
		e.fence(server, ps)
		return
	}
	ps.phase = PhaseRestarting
	act := bmc.PowerActionCycle
	if ps.fenced {
		act = bmc.PowerActionOn
	}
	e.emit(Action{Kind: ActionRestart, Server: server, Power: act})
}

func (e *Engine) restarted(now time.Time, server string, ps *peerState, err error) {
	if ps.phase != PhaseRestarting {
		return
	}
	ps.phase = PhaseRecovering
	ps.healthy, ps.alertedRecovery = 0, false
	ps.recoverBy = now.Add(e.p.RecoveryTimeout)
	clear(ps.danger)
	if err != nil {
		e.alert(now, server, ps, ps.cause, "", fmt.Sprintf("restart failed: %v", err))
		return
	}
	e.notify(now, server, ps, Event{Type: EventRestarted})
}

func capacityOf(img imagestore.Image) hypervisor.Capacity {
	return hypervisor.Capacity{MemoryMiB: img.MemoryMiB, CPUs: img.CPUs}
}
