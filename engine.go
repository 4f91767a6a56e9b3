package failover

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// Phase is where the engine stands with one watched server.
type Phase uint8

// Phases of a watched server, in the order a takeover goes through them.
const (
	PhaseWatching   Phase = iota // healthy or not yet judged failed
	PhaseInventory               // failed; reading its images
	PhaseHeld                    // failed during a rack-wide storm; takeover held
	PhaseEvacuating              // degraded; checkpointing its VMs
	PhaseFencing                 // powering it off, or waiting for the fence to settle
	PhaseStarting                // starting its VMs on the watcher
	PhaseRestarting              // powering it back on
	PhaseRecovering              // restarted; waiting for it to report healthy
	PhaseStuck                   // fence never confirmed; its VMs stay put, an alert says so
)

var phaseNames = [...]string{"watching", "inventory", "held", "evacuating", "fencing", "starting", "restarting", "recovering", "stuck"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "phase?"
}

// pending is what the engine remembers of an action it is waiting on.
type pending struct {
	kind   ActionKind
	server string // the watched server the action is for ("" for reconcile)
	vm     string
	atRisk bool // an inventory read to name the VMs of an unreachable server
	// postFence: the inventory read once the fence is confirmed, for what
	// the server claimed after the first read.
	postFence bool
}

// Engine decides, for one watcher, when a watched server has failed and
// what to do about it, and reconciles what the watcher itself owns. It is
// a pure state machine: Step takes an Input and returns Actions, with no
// IO, clock, goroutine or randomness, so the same Inputs always give the
// same Actions. Every action but a notification carries an ID that its
// answer returns; answers may come in any order, and the engine bounds
// how many starts and checkpoints are outstanding (Policy.MaxParallelStarts)
// so its runner may carry out every action at once. An Engine is not safe
// for concurrent use; its runner (Monitor, or a simulation) owns it.
type Engine struct {
	self    string
	p       Policy
	peers   map[string]*peerState
	names   []string // sorted keys of peers
	recon   *peerState
	pending map[uint64]pending
	nextID  uint64
	starts  int // outstanding probe, claim, start and state actions on the watcher
	storm   stormView
	out     []Action
	// lastAny is when the last status of any watched server came;
	// statusLost: Policy.StatusTimeout has passed since, and was alerted.
	lastAny    time.Time
	statusLost bool
}

// stormView is the newest rack-wide failure count a status carried.
type stormView struct{ failed, size int }

func (s stormView) active(fraction float64) bool {
	return s.size > 0 && fraction < 1 && float64(s.failed) > fraction*float64(s.size)
}

// NewEngine returns an engine for the watcher named self.
func NewEngine(self string, p Policy) (*Engine, error) {
	if self == "" {
		return nil, fmt.Errorf("%w: engine needs the watcher's name", ErrInvalidConfig)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Engine{self: self, p: p, peers: map[string]*peerState{}, pending: map[uint64]pending{}}, nil
}

// Phase returns where the engine stands with server.
func (e *Engine) Phase(server string) Phase {
	if ps, ok := e.peers[server]; ok {
		return ps.phase
	}
	return PhaseWatching
}

// Phases returns the phase of every server the engine has seen.
func (e *Engine) Phases() map[string]Phase {
	out := make(map[string]Phase, len(e.peers))
	for n, ps := range e.peers {
		out[n] = ps.phase
	}
	return out
}

// Outstanding is how many actions the engine waits on an answer for.
func (e *Engine) Outstanding() int { return len(e.pending) }

// Next returns the earliest time a Tick has something to do (a retry, a
// settle, a deadline), or the zero time when nothing is timed. Runners
// may tick then instead of on a fixed beat.
func (e *Engine) Next() time.Time {
	var next time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	visit := func(ps *peerState) {
		at(ps.retryAt)
		at(ps.settleUntil)
		if ps.phase == PhaseEvacuating && ps.checkpointsLeft() {
			at(ps.deadline) // past it, nothing is due until an answer
		}
		if ps.phase == PhaseRecovering && !ps.alertedRecovery {
			at(ps.recoverBy)
		}
		for i := range ps.vms {
			if v := &ps.vms[i]; v.phase == vmRetry || v.phase == vmVerifyWait {
				at(v.retryAt)
			}
		}
	}
	for _, n := range e.names {
		visit(e.peers[n])
		at(e.leaseDue(e.peers[n]))
	}
	if e.recon != nil {
		visit(e.recon)
	}
	return next
}

// Step feeds one input and returns the actions it calls for, in order.
// The returned slice is reused by the next Step: consume it first.
func (e *Engine) Step(in Input) []Action {
	e.out = e.out[:0]
	now := in.Time
	switch in.Kind {
	case InputStatus:
		if in.Status != nil {
			e.status(now, in.Status)
		}
	case InputTick:
		e.tick(now)
	case InputBoot:
		e.boot(now)
	case InputLease:
		e.lease(now, in.Lease)
		if ps := e.peers[in.Lease.Server]; ps != nil {
			e.leaseCheck(now, ps)
		}
	case InputWatchdogSeen:
		e.restoreWatchdog(in)
	default:
		pa, ok := e.pending[in.ID]
		if !ok || pa.kind.answer() != in.Kind {
			return e.out // unknown, late or mismatched answer
		}
		delete(e.pending, in.ID)
		e.answer(now, pa, in)
	}
	e.pump(now)
	return e.out
}

// act emits an action that expects an answer.
func (e *Engine) act(a Action, p pending) {
	e.nextID++
	a.ID = e.nextID
	p.kind = a.Kind
	e.pending[a.ID] = p
	e.out = append(e.out, a)
}

func (e *Engine) peer(name string) *peerState {
	ps, ok := e.peers[name]
	if !ok {
		ps = &peerState{name: name, danger: map[string]bool{}}
		e.peers[name] = ps
		i := sort.SearchStrings(e.names, name)
		e.names = slices.Insert(e.names, i, name)
	}
	return ps
}

// group returns the state a pending action belongs to.
func (e *Engine) group(p pending) *peerState {
	if p.server == "" {
		return e.recon
	}
	return e.peers[p.server]
}

func (e *Engine) answer(now time.Time, pa pending, in Input) {
	ps := e.group(pa)
	if ps == nil {
		return
	}
	switch in.Kind {
	case InputInventory:
		switch {
		case pa.atRisk:
			e.atRisk(now, ps, in)
		case pa.postFence:
			e.fencedInventory(now, ps, in)
		default:
			e.inventory(now, ps, in)
		}
	case InputScanned:
		e.scanned(now, in)
	case InputCheckpointed:
		e.checkpointed(now, ps, pa.vm, in)
	case InputFenced:
		e.fenced(now, ps, in.Err)
	case InputProbed, InputClaimed, InputStarted, InputVMState:
		e.starts--
		if v := ps.vm(pa.vm); v != nil && v.waiting == in.ID {
			e.startAnswer(now, ps, v, in)
		}
	case InputRestarted:
		e.restarted(now, ps, in.Err)
	}
}

func (e *Engine) tick(now time.Time) {
	e.statusTimeout(now)
	for _, n := range e.names {
		e.leaseCheck(now, e.peers[n])
		e.tickPeer(now, e.peers[n])
	}
	if e.recon != nil {
		e.tickVMs(now, e.recon)
	}
}

func (e *Engine) notify(now time.Time, ps *peerState, ev Event) {
	ev.Time, ev.Peer = now, e.self
	if ev.Server == "" {
		ev.Server = ps.name
	}
	if ev.Cause == "" && ev.Type != EventAlert {
		ev.Cause = ps.cause
	}
	if !ps.detectedAt.IsZero() && ev.Type != EventDetected {
		ev.Since = now.Sub(ps.detectedAt)
	}
	e.out = append(e.out, Action{Kind: ActionNotify, Server: ev.Server, Event: ev})
}

func (e *Engine) alert(now time.Time, ps *peerState, cause Cause, vm, msg string) {
	e.notify(now, ps, Event{Type: EventAlert, Cause: cause, VM: vm, Message: msg})
}
