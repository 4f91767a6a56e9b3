package failover

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// driver feeds an Engine by hand the way a runner does: it keeps every
// action still waiting for its answer, answers them by kind and name in
// any order the test chooses, and records how many were outstanding at
// once.
type driver struct {
	t    testing.TB
	e    *Engine
	self string
	now  time.Time
	open map[uint64]Action
	// images answers an inventory of a server (by server name) and a scan
	// (by the watcher's own name).
	images map[string][]imagestore.Image
	// peakStarts is the most probe, claim, start and vm-state actions
	// outstanding at once; peakCkpts the most checkpoints.
	peakStarts, peakCkpts int
	all                   []Action
}

func newDriver(t testing.TB, mod func(*Policy)) *driver {
	t.Helper()
	p := DefaultPolicy()
	// Most tests let time pass without statuses; those about the status
	// timeout set it.
	p.StatusTimeout = 24 * time.Hour
	if mod != nil {
		mod(&p)
	}
	e, err := NewEngine("b2", p)
	if err != nil {
		t.Fatal(err)
	}
	return &driver{t: t, e: e, self: "b2", now: t0, open: map[uint64]Action{}, images: map[string][]imagestore.Image{}}
}

// feed steps the engine at d.now and returns a copy of its actions.
func (d *driver) feed(in Input) []Action {
	in.Time = d.now
	if in.Kind > InputBoot {
		delete(d.open, in.ID)
	}
	out := slices.Clone(d.e.Step(in))
	for _, a := range out {
		if a.Kind != ActionNotify {
			if a.ID == 0 {
				d.t.Fatalf("action %v without an ID", a.Kind)
			}
			if _, dup := d.open[a.ID]; dup {
				d.t.Fatalf("action ID %d handed out twice", a.ID)
			}
			d.open[a.ID] = a
		}
	}
	starts, ckpts := 0, 0
	for _, a := range d.open {
		switch a.Kind {
		case ActionProbe, ActionClaim, ActionStart, ActionVMState:
			starts++
		case ActionCheckpoint:
			ckpts++
		}
	}
	d.peakStarts, d.peakCkpts = max(d.peakStarts, starts), max(d.peakCkpts, ckpts)
	d.all = append(d.all, out...)
	return out
}

func (d *driver) status(st *rack.Status) []Action {
	d.now = st.Time
	return d.feed(Input{Kind: InputStatus, Status: st})
}

// tickAt lets time pass until at.
// After the tick nothing may be due at or before at: a runner that waits
// until Next() would otherwise spin.
func (d *driver) tickAt(at time.Time) []Action {
	d.t.Helper()
	d.now = at
	out := d.feed(Input{Kind: InputTick})
	if n := d.e.Next(); !n.IsZero() && !n.After(at) {
		d.t.Errorf("after a tick at %v, Next() = %v: not in the future", at.Sub(t0), n.Sub(t0))
	}
	return out
}

func (d *driver) tick(by time.Duration) []Action { return d.tickAt(d.now.Add(by)) }

func (d *driver) boot() []Action { return d.feed(Input{Kind: InputBoot}) }

// openOf returns the outstanding actions of kind, in the order issued.
func (d *driver) openOf(kind ActionKind) []Action {
	var out []Action
	for _, a := range d.open {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Action) int { return int(a.ID) - int(b.ID) })
	return out
}

// find returns the oldest outstanding action of kind about name (a VM's
// name, else a server's; "" matches any).
func (d *driver) find(kind ActionKind, name string) (Action, bool) {
	for _, a := range d.openOf(kind) {
		if name == "" || a.Image.Name == name || (a.Image.Name == "" && a.Server == name) {
			return a, true
		}
	}
	return Action{}, false
}

// answer answers the outstanding action of kind about name: a success
// unless mod changes it.
func (d *driver) answer(kind ActionKind, name string, mod func(*Input)) []Action {
	d.t.Helper()
	a, ok := d.find(kind, name)
	if !ok {
		d.t.Fatalf("no outstanding %v for %q; outstanding: %v", kind, name, d.openOf(kind))
	}
	in := d.success(a)
	if mod != nil {
		mod(&in)
	}
	return d.feed(in)
}

func (d *driver) fail(kind ActionKind, name string, err error) []Action {
	d.t.Helper()
	return d.answer(kind, name, func(in *Input) { in.Err = err })
}

// success is the answer of a carried-out action, as the Executor builds
// it from adapters that all worked.
func (d *driver) success(a Action) Input {
	in := Input{Kind: a.Kind.answer(), ID: a.ID}
	switch a.Kind {
	case ActionInventory:
		in.Images = d.images[a.Server]
	case ActionScan:
		in.Images = d.images[d.self]
	case ActionCheckpoint:
		img := a.Image.Clone()
		img.Checkpoint = "ckpt-" + img.Name
		img.Generation++
		img.CheckpointGeneration = img.Generation
		in.Image = img
	case ActionProbe:
		in.State = hypervisor.StateStopped
	case ActionClaim:
		img := a.Image.Clone()
		if img.Owner != d.self {
			img.PreviousOwner = img.Owner
		}
		img.Owner = d.self
		img.Generation++
		in.Image = img
	case ActionVMState:
		in.State = hypervisor.StateRunning
	}
	return in
}

// takeOver answers probe, claim and start of each VM named with success.
func (d *driver) takeOver(names ...string) []Action {
	d.t.Helper()
	var out []Action
	for _, n := range names {
		out = append(out, d.answer(ActionProbe, n, nil)...)
		out = append(out, d.answer(ActionClaim, n, nil)...)
		out = append(out, d.answer(ActionStart, n, nil)...)
	}
	return out
}

func healthy(at time.Time, temp float64) *rack.Status {
	return &rack.Status{
		Server: "b1", Time: at, Reachable: true,
		Health:        bmc.Health{Power: bmc.PowerOn},
		WatchdogKnown: true, Watchdog: watchdog.State{Running: true, Timeout: 30 * time.Second},
		Readings: []sensor.Reading{
			{Name: "CPU Temp", Kind: sensor.KindTemperature, Value: temp, Unit: "C",
				Thresholds: sensor.Thresholds{UpperCaution: sensor.At(80), UpperCritical: sensor.At(90), UpperFatal: sensor.At(100)}},
			{Name: "12V", Kind: sensor.KindVoltage, Value: 12.1, Unit: "V",
				Thresholds: sensor.Thresholds{LowerCritical: sensor.At(10.8), UpperCritical: sensor.At(13.2)}},
		},
	}
}

func powerOff(s *rack.Status) { s.Health.Power = bmc.PowerOff }

// images returns n images owned by b1, vm0 of highest priority.
func images(n int) []imagestore.Image {
	var out []imagestore.Image
	for i := range n {
		out = append(out, imagestore.Image{Name: fmt.Sprintf("vm%d", i), Owner: "b1", Generation: 1, Priority: n - i, MemoryMiB: 1024, CPUs: 1})
	}
	return out
}

// detect feeds full polls of b1, one a second from t0, changed by mod,
// until the engine detects a failure; it fails the test after 10.
func (d *driver) detect(mod func(*rack.Status)) {
	d.t.Helper()
	for i := range 10 {
		st := healthy(t0.Add(time.Duration(i)*time.Second), 50)
		mod(st)
		d.status(st)
		if d.e.Phase("b1") != PhaseWatching {
			return
		}
	}
	d.t.Fatalf("no detection after 10 polls")
}

// fence answers the fence of b1 with success, lets the settle pass and
// answers the inventory read after it.
func (d *driver) fence() []Action {
	d.t.Helper()
	out := d.answer(ActionFence, "b1", nil)
	out = append(out, d.tick(d.e.p.FenceSettle)...)
	return append(out, d.answer(ActionInventory, "b1", nil)...)
}

// lastRead answers the inventory read before the restart, which finds
// nothing new.
func (d *driver) lastRead() []Action {
	d.t.Helper()
	return d.answer(ActionInventory, "b1", nil)
}

// kinds summarises actions as "kind:detail" for compact diffs.
func kinds(as []Action) []string {
	var out []string
	for _, a := range as {
		s := a.Kind.String()
		switch a.Kind {
		case ActionNotify:
			s = string(a.Event.Type)
			if a.Event.VM != "" {
				s += ":" + a.Event.VM
			}
		case ActionCheckpoint, ActionProbe, ActionClaim, ActionStart, ActionVMState:
			s += ":" + a.Image.Name
		case ActionRestart:
			s += ":" + a.Power.String()
		}
		out = append(out, s)
	}
	return out
}

// events returns the events among as.
func events(as []Action) []Event {
	var out []Event
	for _, a := range as {
		if a.Kind == ActionNotify {
			out = append(out, a.Event)
		}
	}
	return out
}

// alertsAbout returns the alert messages about vm among as.
func alertsAbout(as []Action, vm string) []string {
	var out []string
	for _, ev := range events(as) {
		if ev.Type == EventAlert && ev.VM == vm {
			out = append(out, ev.Message)
		}
	}
	return out
}
