package failover

import (
	"errors"
	"fmt"
	"time"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// ErrOutcomeUnknown marks an answer whose action may or may not have
// happened: the call was abandoned at its timeout. For a start, the
// engine asks the hypervisor later; for a claim, the next claim finds out.
var ErrOutcomeUnknown = errors.New("failover: outcome unknown")

// actVM emits an action for VM v of group ps and remembers its ID: only
// that action's answer moves v on (an answer to an earlier takeover's
// action for a VM of the same name does not).
func (e *Engine) actVM(ps *peerState, v *vmState, a Action) {
	p := pending{server: ps.name, vm: v.img.Name}
	if ps == e.recon {
		p.server = ""
	}
	e.act(a, p)
	v.waiting = e.nextID
}

// pump hands out checkpoint and start slots, highest priority first.
func (e *Engine) pump(now time.Time) {
	for _, n := range e.names {
		ps := e.peers[n]
		if ps.phase != PhaseEvacuating {
			continue
		}
		for i := range ps.vms {
			if ps.ckpts >= e.p.MaxParallelStarts {
				break
			}
			if v := &ps.vms[i]; v.phase == vmCheckpointQueued {
				v.phase = vmCheckpointing
				ps.ckpts++
				e.actVM(ps, v, Action{Kind: ActionCheckpoint, Server: ps.name, Image: v.img, Deadline: ps.deadline})
			}
		}
	}
	for e.starts < e.p.MaxParallelStarts {
		ps, v := e.nextQueued()
		if v == nil {
			return
		}
		if v.phase == vmVerifyQueued {
			v.phase = vmVerifying
			e.starts++
			e.actVM(ps, v, Action{Kind: ActionVMState, Server: e.self, Image: v.img})
			continue
		}
		e.begin(now, ps, v)
	}
}

// nextQueued returns the queued VM of highest priority (then name), the
// watcher's own reconcile first; a VM whose start's outcome is unknown
// (its state to be read) comes before any new start.
func (e *Engine) nextQueued() (*peerState, *vmState) {
	var bps *peerState
	var best *vmState
	look := func(ps *peerState) {
		if ps == nil || (ps != e.recon && ps.phase != PhaseEvacuating && ps.phase != PhaseStarting) {
			return
		}
		for i := range ps.vms {
			v := &ps.vms[i]
			if v.phase != vmQueued && v.phase != vmVerifyQueued {
				continue
			}
			if best == nil || (v.phase == vmVerifyQueued) != (best.phase == vmVerifyQueued) {
				if best == nil || v.phase == vmVerifyQueued {
					bps, best = ps, v
				}
				continue
			}
			if v.img.Priority > best.img.Priority || (v.img.Priority == best.img.Priority && v.img.Name < best.img.Name) {
				bps, best = ps, v
			}
		}
	}
	look(e.recon)
	if best != nil {
		return bps, best
	}
	for _, n := range e.names {
		look(e.peers[n])
	}
	return bps, best
}

// begin runs one attempt: probe the VM's last host, claim, start.
func (e *Engine) begin(now time.Time, ps *peerState, v *vmState) {
	v.starts++
	e.starts++
	if v.probe != "" {
		v.phase = vmProbing
		e.actVM(ps, v, Action{Kind: ActionProbe, Server: v.probe, Image: v.img})
		return
	}
	e.claim(ps, v)
}

func (e *Engine) claim(ps *peerState, v *vmState) {
	v.phase = vmClaiming
	img := v.img.Clone()
	img.Checkpoint, img.CheckpointGeneration = "", 0 // stale once the VM runs again
	e.actVM(ps, v, Action{Kind: ActionClaim, Server: e.self, Image: img})
}

func (e *Engine) start(ps *peerState, v *vmState) {
	v.phase = vmStarting
	run := v.claimed.Clone()
	run.Checkpoint, run.CheckpointGeneration = "", 0
	if v.img.Checkpoint != "" && v.claimed.Generation == v.img.CheckpointGeneration+1 {
		run.Checkpoint, run.CheckpointGeneration = v.img.Checkpoint, v.img.CheckpointGeneration
	}
	v.resumed = run.Checkpoint != ""
	e.actVM(ps, v, Action{Kind: ActionStart, Server: e.self, Image: run})
}

// startAnswer moves one VM's attempt on. e.starts was already released.
func (e *Engine) startAnswer(now time.Time, ps *peerState, v *vmState, in Input) {
	switch {
	case in.Kind == InputProbed && v.phase == vmProbing:
		if in.Err == nil && (in.State == hypervisor.StateRunning || in.State == hypervisor.StatePaused) {
			e.retryOrFail(now, ps, v, fmt.Errorf("%w: %s reports it %v", ErrRunningElsewhere, v.probe, in.State))
			return
		}
		e.starts++
		e.claim(ps, v)
	case in.Kind == InputClaimed && v.phase == vmClaiming:
		e.claimed(now, ps, v, in)
	case in.Kind == InputStarted && v.phase == vmStarting:
		switch {
		case in.Err == nil || errors.Is(in.Err, hypervisor.ErrAlreadyRunning):
			e.running(now, ps, v)
		case errors.Is(in.Err, ErrOutcomeUnknown):
			v.phase, v.retryAt = vmVerifyWait, now.Add(e.p.RetryInterval)
		default:
			e.retryOrFail(now, ps, v, in.Err)
		}
	case in.Kind == InputVMState && v.phase == vmVerifying:
		switch {
		case in.Err == nil && (in.State == hypervisor.StateRunning || in.State == hypervisor.StatePaused):
			e.running(now, ps, v)
		case in.Err == nil || errors.Is(in.Err, hypervisor.ErrNotFound):
			e.retryOrFail(now, ps, v, fmt.Errorf("start did not take: %v here", in.State))
		default:
			v.verifies++
			if v.verifies < e.p.StartAttempts {
				v.phase, v.retryAt = vmVerifyWait, now.Add(e.p.RetryInterval)
				return
			}
			e.fail(now, ps, v, fmt.Sprintf("start outcome unknown after %d reads of its state: %v", v.verifies, in.Err))
		}
	}
}

// claimed interprets a claim's answer: a stale generation may be the
// watcher's own earlier claim, a change by the expected owner (read
// again and claim once more), or another server's claim (given up).
func (e *Engine) claimed(now time.Time, ps *peerState, v *vmState, in Input) {
	if in.Err == nil {
		v.claimed = in.Image
		e.starts++
		e.start(ps, v)
		return
	}
	if errors.Is(in.Err, imagestore.ErrStaleGeneration) && in.Current != nil {
		cur := *in.Current
		switch {
		case cur.Owner == e.self && v.from != e.self:
			v.claimed = cur // our own earlier claim: the VM is ours to start
			e.starts++
			e.start(ps, v)
			return
		case cur.Owner == v.from && cur.Generation > v.img.Generation && v.reclaims < 3 &&
			((v.from == e.self && cur.Checkpoint == "") ||
				(cur.Checkpoint != "" && cur.CheckpointGeneration == cur.Generation)):
			// Reconcile: our own earlier claim, whose start failed. Or a
			// checkpoint recorded since it was read (an answer that came
			// after the evacuation deadline). Claim it as it is now.
			v.reclaims++
			v.img = usable(cur)
			e.starts++
			e.claim(ps, v)
			return
		case cur.Owner == v.from:
			// Its owner is alive and changed it (a reconcile, say): ask
			// its host again before the next claim.
			v.img = usable(cur)
		case cur.Owner != v.from:
			e.fail(now, ps, v, fmt.Sprintf("%v: owned by %s now (generation %d); not started on %s",
				ErrClaimedElsewhere, cur.Owner, cur.Generation, e.self))
			return
		}
	}
	e.retryOrFail(now, ps, v, in.Err)
}

func (e *Engine) running(now time.Time, ps *peerState, v *vmState) {
	v.phase = vmRunning
	if ps == e.recon {
		e.notify(now, ps, Event{Type: EventReconciled, VM: v.img.Name, Resumed: v.resumed,
			Message: "owned here but not running: started by reconcile"})
		return
	}
	e.notify(now, ps, Event{Type: EventBackupStarted, VM: v.img.Name, Resumed: v.resumed})
	e.finish(now, ps)
}

func (e *Engine) retryOrFail(now time.Time, ps *peerState, v *vmState, err error) {
	if v.starts < e.p.StartAttempts && retryable(err) {
		v.phase, v.retryAt = vmRetry, now.Add(e.p.RetryInterval)
		e.vmAlert(now, ps, v, fmt.Sprintf("start attempt %d/%d on %s failed: %v; retrying in %v",
			v.starts, e.p.StartAttempts, e.self, err, e.p.RetryInterval))
		return
	}
	e.fail(now, ps, v, fmt.Sprintf("backup did not start on %s after %d attempts: %v", e.self, v.starts, err))
}

func (e *Engine) fail(now time.Time, ps *peerState, v *vmState, msg string) {
	v.phase = vmFailed
	e.vmAlert(now, ps, v, msg)
	e.finish(now, ps)
}

// vmAlert names the VM and the server it failed on: for a reconcile, the
// server it was taken over from.
func (e *Engine) vmAlert(now time.Time, ps *peerState, v *vmState, msg string) {
	ev := Event{Type: EventAlert, Cause: ps.cause, VM: v.img.Name, Message: msg}
	if ps == e.recon && v.img.PreviousOwner != "" {
		ev.Server = v.img.PreviousOwner
	}
	e.notify(now, ps, ev)
}
