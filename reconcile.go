package failover

import (
	"fmt"
	"slices"
	"time"
)

// boot starts a reconcile: the watcher's monitor has no memory of what it
// did before, so every VM it owns but does not run is started again, each
// re-claimed first (its generation bumped) so that a watcher about to take
// it over finds its token stale.
func (e *Engine) boot(now time.Time) {
	if e.recon == nil {
		e.recon = &peerState{name: e.self, phase: PhaseStarting}
	}
	e.act(Action{Kind: ActionScan, Server: e.self}, pending{})
}

func (e *Engine) scanned(now time.Time, in Input) {
	ps := e.recon
	if in.Err != nil {
		ps.retryAt = now.Add(e.p.RetryInterval)
		e.alert(now, ps, "", "", fmt.Sprintf("reconcile: cannot read what %s owns: %v; retrying in %v", e.self, in.Err, e.p.RetryInterval))
		return
	}
	for _, img := range in.Images {
		if img.Owner != e.self || slices.Contains(in.Running, img.Name) {
			continue
		}
		if v := ps.vm(img.Name); v != nil && v.phase != vmRunning && v.phase != vmFailed {
			continue // already being started
		}
		if img.Checkpoint != "" {
			// Checkpointed and stopped: a watcher is evacuating it, or
			// gave up doing so. Resuming it here could run it twice.
			e.notify(now, ps, Event{Type: EventAlert, VM: img.Name, Message: fmt.Sprintf(
				"owned by %s and stopped with a checkpoint (an evacuation under way or abandoned): not started by reconcile", e.self)})
			continue
		}
		probe := img.PreviousOwner
		if probe == e.self {
			probe = ""
		}
		nv := vmState{img: usable(img), from: e.self, probe: probe, phase: vmQueued}
		if v := ps.vm(img.Name); v != nil {
			*v = nv
		} else {
			ps.vms = append(ps.vms, nv)
		}
	}
}
