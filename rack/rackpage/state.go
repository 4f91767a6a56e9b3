package rackpage

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/promfailover"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
)

// State is what the page shows, as GET state and each stream message
// carry it (JSON).
type State struct {
	// Time is the rack manager's clock (LocalConfig.Now).
	Time time.Time `json:"time"`
	// PhasesKnown: the page is fed the monitors' events, so a server
	// without any is watching. Without them Phase is empty.
	PhasesKnown bool          `json:"phases_known"`
	Servers     []ServerState `json:"servers"`
	// VMs from the image store, with their owner (the only server that
	// may run each); nil without a store.
	VMs []VMState `json:"vms"`
	// VMsErr says why the store could not be listed.
	VMsErr string `json:"vms_err,omitempty"`
	// Events are the latest monitor events, newest last.
	Events []EventState `json:"events"`
}

// ServerState is one server: the rack manager's latest poll and journal,
// and the phase its watcher's events report.
type ServerState struct {
	Name string `json:"name"`
	// Watcher receives its statuses now; TopologyWatcher is the
	// topology's (they differ while the watching is handed over).
	Watcher         string `json:"watcher"`
	TopologyWatcher string `json:"topology_watcher"`
	// Phase is a failover.Phase name (promfailover.PhaseOf), or empty
	// when not known; PhaseSince is when it began.
	Phase      string    `json:"phase"`
	PhaseSince time.Time `json:"phase_since,omitzero"`
	// Trail is its last phases, oldest first, the current one last: a
	// fence of a server already off lasts less than a redraw.
	Trail []PhaseStep `json:"trail,omitempty"`
	// Polled is false before the first poll; the fields below are then
	// empty.
	Polled    bool      `json:"polled"`
	LastPoll  time.Time `json:"last_poll,omitzero"`
	Reachable bool      `json:"reachable"`
	Err       string    `json:"err,omitempty"`
	Power     string    `json:"power"`
	Fault     bool      `json:"fault"`
	Detail    string    `json:"detail,omitempty"`
	// Watchdog is "running", "expired", "stopped" or "" (none, or not
	// read).
	Watchdog string         `json:"watchdog"`
	Readings []ReadingState `json:"readings"`
}

// ReadingState is one sensor: its latest value, level and thresholds,
// and its values over the journal (History, oldest first, NaN-free:
// missing polls are null).
type ReadingState struct {
	Name       string     `json:"name"`
	Kind       string     `json:"kind"`
	Unit       string     `json:"unit"`
	Value      *float64   `json:"value"`
	Level      string     `json:"level"`
	Thresholds Thresholds `json:"thresholds"`
	History    []*float64 `json:"history"`
}

// Thresholds are a sensor's set limits (nil: none).
type Thresholds struct {
	LowerFatal    *float64 `json:"lower_fatal,omitempty"`
	LowerCritical *float64 `json:"lower_critical,omitempty"`
	LowerCaution  *float64 `json:"lower_caution,omitempty"`
	UpperCaution  *float64 `json:"upper_caution,omitempty"`
	UpperCritical *float64 `json:"upper_critical,omitempty"`
	UpperFatal    *float64 `json:"upper_fatal,omitempty"`
}

// PhaseStep is one phase a server entered, and when.
type PhaseStep struct {
	Phase string    `json:"phase"`
	Since time.Time `json:"since"`
}

// maxTrail is how many phases each server's trail keeps.
const maxTrail = 6

// VMState is one VM of the image store.
type VMState struct {
	Name          string `json:"name"`
	Owner         string `json:"owner"`
	PreviousOwner string `json:"previous_owner,omitempty"`
}

// EventState is one monitor event.
type EventState struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Server  string    `json:"server,omitempty"`
	Peer    string    `json:"peer,omitempty"`
	Cause   string    `json:"cause,omitempty"`
	VM      string    `json:"vm,omitempty"`
	Message string    `json:"message,omitempty"`
}

// Record takes one monitor event: it moves its server's phase and joins
// the last events, and wakes the streams. It is a failover.Config.OnEvent
// (chain it with another if needed). Safe for concurrent use.
func (p *Page) Record(ev failover.Event) {
	p.mu.Lock()
	if ph, ok := promfailover.PhaseOf(ev); ok && ev.Server != "" {
		if cur := p.phases[ev.Server]; cur.name != ph {
			trail := append(slices.Clone(cur.trail), PhaseStep{Phase: ph, Since: ev.Time})
			p.phases[ev.Server] = phase{name: ph, since: ev.Time, trail: trail[max(0, len(trail)-maxTrail):]}
		}
	}
	p.events = append(p.events, EventState{Time: ev.Time, Type: string(ev.Type), Server: ev.Server, Peer: ev.Peer,
		Cause: string(ev.Cause), VM: ev.VM, Message: ev.Message})
	if over := len(p.events) - p.cfg.Events; over > 0 {
		p.events = slices.Delete(p.events, 0, over)
	}
	p.mu.Unlock()
	p.wake()
}

type phase struct {
	name  string
	since time.Time
	trail []PhaseStep
}

// now is the rack manager's clock (its polls' times).
func (p *Page) now() time.Time {
	if now := p.cfg.Local.Config().Now; now != nil {
		return now()
	}
	return time.Now()
}

// snapshot builds the State now.
func (p *Page) snapshot(ctx context.Context) State {
	st := State{Time: p.now(), PhasesKnown: p.cfg.MonitorEvents}
	topo := p.cfg.Local.Topology()
	p.mu.Lock()
	phases := make(map[string]phase, len(p.phases))
	for k, v := range p.phases {
		phases[k] = v
	}
	st.Events = slices.Clone(p.events)
	p.mu.Unlock()
	if st.Events == nil {
		st.Events = []EventState{}
	}
	for _, name := range topo.Servers() {
		ss := ServerState{Name: name, Watcher: p.cfg.Local.WatcherOf(name), TopologyWatcher: topo.WatcherOf(name), Readings: []ReadingState{}}
		if ph, ok := phases[name]; ok {
			ss.Phase, ss.PhaseSince, ss.Trail = ph.name, ph.since, ph.trail
		} else if p.cfg.MonitorEvents {
			ss.Phase = failover.PhaseWatching.String()
		}
		if j := p.cfg.Local.Journal(name); j != nil {
			fillPoll(&ss, j.Entries(), p.cfg.History)
		}
		st.Servers = append(st.Servers, ss)
	}
	if p.cfg.Images != nil {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		imgs, err := p.cfg.Images.List(c)
		cancel()
		st.VMs = []VMState{}
		if err != nil {
			st.VMsErr = err.Error()
		}
		for _, img := range imgs {
			st.VMs = append(st.VMs, VMState{Name: img.Name, Owner: img.Owner, PreviousOwner: img.PreviousOwner})
		}
		slices.SortFunc(st.VMs, func(a, b VMState) int {
			if a.Name < b.Name {
				return -1
			}
			if a.Name > b.Name {
				return 1
			}
			return 0
		})
	}
	return st
}

// fillPoll sets ss's poll fields from its journal: the latest status,
// and the last history full statuses' readings.
func fillPoll(ss *ServerState, entries []rack.Status, history int) {
	if len(entries) == 0 {
		return
	}
	last := entries[len(entries)-1]
	ss.Polled, ss.LastPoll, ss.Reachable, ss.Err = true, last.Time, last.Reachable, last.Err
	ss.Power, ss.Fault, ss.Detail = "unknown", last.Health.Fault, last.Health.Detail
	if last.Reachable && last.HealthErr == "" {
		ss.Power = last.Health.Power.String()
	}
	// Fast polls carry no readings nor watchdog: take those from the
	// newest full one.
	var full []rack.Status
	for _, e := range entries {
		if !e.Fast {
			full = append(full, e)
		}
	}
	full = full[max(0, len(full)-history):]
	if len(full) == 0 {
		return
	}
	newest := full[len(full)-1]
	if newest.WatchdogKnown {
		switch w := newest.Watchdog; {
		case w.Expired:
			ss.Watchdog = "expired"
		case w.Running:
			ss.Watchdog = "running"
		default:
			ss.Watchdog = "stopped"
		}
	}
	for _, r := range newest.Readings {
		rs := ReadingState{Name: r.Name, Kind: r.Kind.String(), Unit: r.Unit, Thresholds: thresholds(r.Thresholds)}
		if r.Status == sensor.StatusOK && finite(r.Value) {
			rs.Value = ptr(r.Value)
			rs.Level = r.Thresholds.Level(r.Value).String()
		} else {
			rs.Level = "unavailable"
		}
		for _, e := range full {
			var v *float64
			for _, er := range e.Readings {
				if er.Name == r.Name && er.Status == sensor.StatusOK && finite(er.Value) {
					v = ptr(er.Value)
					break
				}
			}
			rs.History = append(rs.History, v)
		}
		ss.Readings = append(ss.Readings, rs)
	}
}

func thresholds(t sensor.Thresholds) Thresholds {
	lim := func(l sensor.Limit) *float64 {
		if !l.Set || !finite(l.Value) {
			return nil
		}
		return ptr(l.Value)
	}
	return Thresholds{LowerFatal: lim(t.LowerFatal), LowerCritical: lim(t.LowerCritical), LowerCaution: lim(t.LowerCaution),
		UpperCaution: lim(t.UpperCaution), UpperCritical: lim(t.UpperCritical), UpperFatal: lim(t.UpperFatal)}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func ptr(v float64) *float64 { return &v }
