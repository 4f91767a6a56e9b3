package failover

import (
	"fmt"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
)

// Causes judged by time on fast polls as well as by count on full ones.
const (
	fastNoPower    = 1 // index of CauseNoPower in causeOrder
	fastBladeFault = 2 // index of CauseBladeFault in causeOrder
	// fastObservations: a timed cause also needs this many statuses in a
	// row, so one stale answer spanning FastDwell is not enough.
	fastObservations = 3
)

// status judges one status of a watched server.
func (e *Engine) status(now time.Time, st *rack.Status) {
	if st.RackSize > 0 {
		e.storm = stormView{failed: st.RackFailed, size: st.RackSize}
	}
	e.lastAny, e.statusLost = now, false
	ps := e.peer(st.Server)
	if !ps.lastStatus.IsZero() && now.Sub(ps.lastStatus) > e.p.MaxStatusGap {
		ps.fastN = [numCauses]int{} // nothing was seen meanwhile
	}
	ps.lastStatus = now
	if !st.Fast {
		if !ps.lastFull.IsZero() && now.Sub(ps.lastFull) > e.p.MaxStatusGap {
			ps.count = [numCauses]int{}
			ps.healthy = 0
			ps.unreachable = 0 // a takeover by lease needs unreachability seen without a gap
		}
		ps.lastFull = now
	}
	if !st.Reachable {
		if st.Fast {
			return // full polls count unreachability
		}
		ps.count = [numCauses]int{}
		ps.fastN = [numCauses]int{}
		ps.healthy = 0
		ps.unreachable++
		if ps.unreachable >= e.p.UnreachableAlertPolls && !ps.alertedLost {
			ps.alertedLost = true
			e.alert(now, ps, CauseBMCUnreachable, "",
				fmt.Sprintf("BMC unreachable for %d polls (%s); no takeover without a confirmed fence", ps.unreachable, st.Err))
			if ps.phase == PhaseWatching {
				e.act(Action{Kind: ActionInventory, Server: ps.name}, pending{server: ps.name, atRisk: true})
			}
		}
		e.leaseCheck(now, ps)
		return
	}
	if !st.Fast {
		ps.unreachable, ps.alertedLost = 0, false
		e.sawWatchdog(now, ps, st.WatchdogKnown, st.Watchdog)
	}
	var held [numCauses]bool
	var hits [numCauses]hit
	if st.Fast {
		held = e.judgeHealth(st)
	} else {
		held, hits = e.judge(st, ps.danger)
	}

	switch ps.phase {
	case PhaseWatching:
	case PhaseRecovering, PhaseStuck, PhaseHeld:
		if st.Fast {
			return // recovery is judged on full statuses
		}
		if ps.phase == PhaseRecovering && ps.restartFailed && st.HealthErr == "" && st.Health.Power == bmc.PowerOff {
			// Its BMC answers again (power back after a total loss) and
			// the server is off: nothing of it runs, so power it on.
			ps.restartFailed = false
			ps.phase = PhaseRestarting
			e.act(Action{Kind: ActionRestart, Server: ps.name, Power: bmc.PowerActionOn}, pending{server: ps.name})
			return
		}
		if held == ([numCauses]bool{}) {
			ps.healthy++
		} else {
			ps.healthy = 0
		}
		if ps.healthy >= e.p.DebouncePolls {
			ps.count = [numCauses]int{}
			ps.fastN = [numCauses]int{}
			msg := "reports healthy; watching again"
			if ps.phase == PhaseHeld {
				msg = "reports healthy while its takeover was held: not taken over; watching again"
			}
			ps.phase = PhaseWatching
			e.notify(now, ps, Event{Type: EventRecovered, Message: msg})
			ps.detectedAt, ps.cause, ps.vms, ps.noRoom = time.Time{}, CauseNone, nil, nil
		}
		return
	default:
		// A takeover is under way. A fast poll sees a hung server's
		// watchdog power it down before a full poll shows why: name the
		// watchdog from then on.
		if ps.cause == CauseNoPower && !st.Fast && st.WatchdogKnown && st.Watchdog.Expired {
			ps.cause = CauseWatchdog
		}
		return
	}

	fired := -1
	for c := range numCauses {
		timed := c == fastNoPower || c == fastBladeFault
		if !held[c] {
			if timed {
				ps.fastN[c] = 0
			}
			if !st.Fast {
				ps.count[c] = 0
			}
			continue
		}
		if timed {
			if ps.fastN[c] == 0 {
				ps.fastSince[c] = now
			}
			ps.fastN[c]++
			if fired < 0 && ps.fastN[c] >= fastObservations && now.Sub(ps.fastSince[c]) >= e.p.FastDwell {
				fired = c
			}
		}
		if st.Fast {
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
		e.predictStatus(now, ps, st)
		return
	}
	// When several causes hold, the first in causeOrder names the failure,
	// even one not yet debounced: a watchdog that expired and powered the
	// server off is a watchdog failure, though power off is judged sooner.
	for c := range fired {
		if held[c] {
			fired = c
			break
		}
	}
	e.detected(now, ps, st, fired, hits[fired])
}

// judgeHealth is judge for a fast status: power and fault bits only.
func (e *Engine) judgeHealth(st *rack.Status) (held [numCauses]bool) {
	if st.HealthErr != "" {
		return held
	}
	h := st.Health
	held[fastNoPower] = h.Power == bmc.PowerOff || h.MainPowerFault
	held[fastBladeFault] = h.Fault || h.PowerFault || h.Overload || h.Interlock
	return held
}

// resetTakeover starts a takeover of ps for cause from a clean slate.
func (e *Engine) resetTakeover(now time.Time, ps *peerState, cause Cause) {
	ps.cause = cause
	ps.detectedAt = now
	ps.degraded, ps.byLease, ps.predicted = false, false, false
	ps.fences, ps.fenced, ps.vms, ps.noRoom, ps.alertedHeld, ps.restartFailed = 0, false, nil, nil, false, false
	ps.stable, ps.reading = false, false
	ps.retryAt, ps.settleUntil = time.Time{}, time.Time{}
}

func (e *Engine) detected(now time.Time, ps *peerState, st *rack.Status, fired int, h hit) {
	e.resetTakeover(now, ps, causeOrder[fired])
	ps.degraded = (ps.cause == CauseTemperature || ps.cause == CauseVoltage) && st.HealthErr == "" && st.Health.Power == bmc.PowerOn
	ev := Event{Type: EventDetected, Cause: ps.cause}
	if h.name != "" {
		ev.Sensor, ev.Value, ev.Unit, ev.Threshold = h.name, h.value, h.unit, h.threshold
	}
	if ps.cause == CauseBladeFault && st.Health.Detail != "" {
		ev.Message = st.Health.Detail
	}
	if st.Fast {
		if ev.Message != "" {
			ev.Message += "; "
		}
		ev.Message += "seen by fast polls"
	}
	e.notify(now, ps, ev)
	ps.phase = PhaseInventory
	e.act(Action{Kind: ActionInventory, Server: ps.name}, pending{server: ps.name})
}

// atRisk names, one alert each, the VMs of a server whose BMC is lost:
// none of them will be taken over until it answers again.
func (e *Engine) atRisk(now time.Time, ps *peerState, in Input) {
	if in.Err != nil {
		e.alert(now, ps, CauseBMCUnreachable, "", fmt.Sprintf("cannot list its VMs: %v", in.Err))
		return
	}
	cause, what := CauseBMCUnreachable, "the BMC is unreachable"
	if e.statusLost {
		cause, what = CauseNoStatus, "no status comes"
	}
	for _, img := range in.Images {
		e.alert(now, ps, cause, img.Name, "at risk: not taken over while "+what)
	}
}

// statusTimeout alerts once when no status of any watched server has come
// for Policy.StatusTimeout, naming the VMs of each watched server.
func (e *Engine) statusTimeout(now time.Time) {
	if e.statusLost || e.lastAny.IsZero() || now.Sub(e.lastAny) <= e.p.StatusTimeout {
		return
	}
	e.statusLost = true
	for _, n := range e.names {
		ps := e.peers[n]
		ps.count, ps.fastN, ps.healthy, ps.unreachable = [numCauses]int{}, [numCauses]int{}, 0, 0
		e.alert(now, ps, CauseNoStatus, "",
			fmt.Sprintf("no status for %v (rack manager unreachable?); no takeover until statuses come again", now.Sub(e.lastAny).Round(time.Millisecond)))
		if ps.phase == PhaseWatching {
			e.act(Action{Kind: ActionInventory, Server: ps.name}, pending{server: ps.name, atRisk: true})
		}
	}
}
