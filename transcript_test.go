package failover

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// TestTranscripts replays the scenario transcripts in testdata/*.txt: each
// block is one input to the engine (a status, an answer, time passing),
// and below its ---- line the actions the engine answered with. Regenerate
// them after a deliberate change with
//
//	go test -run TestTranscripts -rewrite
//
// (the -rewrite flag is datadriven's) and read the diff before committing.
//
// Inputs (times t= are from the start of the scenario):
//
//	engine [max-parallel=N] [settle=D] [storm=F] [debounce=N] [retry=D] ...
//	images b1 vm0 vm1 ...           VMs owned by b1, first of highest priority
//	image NAME owner=S [prev=S] [gen=N] [prio=N] [mem=MiB]
//	status b1 t=D|(D,D,...) [power=off] [fault=DETAIL] [wd=expired] [temp=C]
//	       [volts=V] [unreachable] [fast] [rack=FAILED/SIZE]
//	fan b1 until=D                  a status each second from t=0: a fan failure (predict_test.go)
//	tick t=D | tick +D
//	boot
//	answer KIND NAME|* [ok] [err=WORD] [state=S] [owner=S gen=N] [free=MiB/CPUs]
//	       [evacuate] [running=(a,b)] [id=N]
//	phase b1 | outstanding | next
//
// Output lines are "-> kind target ... (id N)" for actions and
// "-> event server ...: message" for notifications.
func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		tr := &transcript{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return tr.run(t, td)
		})
	})
}

type transcript struct {
	d *driver
}

func (tr *transcript) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "engine" && tr.d == nil {
		tr.engine(t, nil)
	}
	switch td.Cmd {
	case "engine":
		tr.engine(t, td)
		return ""
	case "images":
		owner := positional(td, 0)
		names := td.CmdArgs[1:]
		for i, a := range names {
			tr.d.images[owner] = append(tr.d.images[owner], imagestore.Image{Name: a.Key, Owner: owner, Generation: 1,
				Priority: len(names) - i, MemoryMiB: 1024, CPUs: 1})
		}
		return ""
	case "image":
		img := imagestore.Image{Name: positional(td, 0), Owner: str(td, "owner", "b1"), PreviousOwner: str(td, "prev", ""),
			Generation: uint64(num(t, td, "gen", 1)), Priority: num(t, td, "prio", 0), MemoryMiB: int64(num(t, td, "mem", 1024)), CPUs: 1}
		tr.d.images[img.Owner] = append(tr.d.images[img.Owner], img)
		return ""
	case "status":
		return tr.status(t, td)
	case "fan":
		return tr.fan(t, td)
	case "tick":
		at := tr.d.now
		if arg, ok := get(td, "t"); ok {
			at = t0.Add(dur(t, arg.Vals[0]))
		} else if p := positional(td, 0); strings.HasPrefix(p, "+") {
			at = at.Add(dur(t, p[1:]))
		}
		return tr.show(tr.d.tickAt(at))
	case "boot":
		return tr.show(tr.d.boot())
	case "lease":
		// lease SERVER held|gone [ttl=D] [disarmed] [t=T]
		tr.at(t, td)
		l := Lease{Server: positional(td, 0), Held: td.HasArg("held"), TTL: durArg(t, td, "ttl", 0), Disarmed: td.HasArg("disarmed")}
		return tr.show(tr.d.feed(Input{Kind: InputLease, Lease: l}))
	case "watchdog-seen":
		// watchdog-seen SERVER action=A timeout=D: a journaled one, fed back
		tr.at(t, td)
		a, err := watchdog.ParseAction(str(td, "action", "none"))
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		st := watchdog.State{Running: a != watchdog.ActionNone, Action: a, Timeout: durArg(t, td, "timeout", 0)}
		return tr.show(tr.d.feed(Input{Kind: InputWatchdogSeen, Server: positional(td, 0), Watchdog: st}))
	case "answer":
		return tr.answer(t, td)
	case "phase":
		return fmt.Sprintf("%s: %v", positional(td, 0), tr.d.e.Phase(positional(td, 0)))
	case "next":
		n := tr.d.e.Next()
		if n.IsZero() {
			return "nothing timed"
		}
		return "next at " + rel(n)
	case "outstanding":
		var ids []uint64
		for id := range tr.d.open {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		var b strings.Builder
		fmt.Fprintf(&b, "%d outstanding", len(ids))
		for _, id := range ids {
			b.WriteString("\n" + describe(tr.d.open[id]))
		}
		return b.String()
	}
	td.Fatalf(t, "unknown command %q", td.Cmd)
	return ""
}

func (tr *transcript) engine(t *testing.T, td *datadriven.TestData) {
	tr.d = newDriver(t, func(p *Policy) {
		if td == nil {
			return
		}
		p.MaxParallelStarts = num(t, td, "max-parallel", p.MaxParallelStarts)
		p.DebouncePolls = num(t, td, "debounce", p.DebouncePolls)
		p.FenceAttempts = num(t, td, "fence-attempts", p.FenceAttempts)
		p.StartAttempts = num(t, td, "start-attempts", p.StartAttempts)
		p.FenceSettle = durArg(t, td, "settle", p.FenceSettle)
		p.FastDwell = durArg(t, td, "fast-dwell", p.FastDwell)
		p.RetryInterval = durArg(t, td, "retry", p.RetryInterval)
		p.EvacuationTimeout = durArg(t, td, "evacuation", p.EvacuationTimeout)
		p.RecoveryTimeout = durArg(t, td, "recovery", p.RecoveryTimeout)
		p.StatusTimeout = durArg(t, td, "status-timeout", p.StatusTimeout)
		p.LeaseDriftMargin = durArg(t, td, "drift", p.LeaseDriftMargin)
		if arg, ok := get(td, "storm"); ok {
			f, err := strconv.ParseFloat(arg.Vals[0], 64)
			if err != nil {
				td.Fatalf(t, "storm=%s: %v", arg.Vals[0], err)
			}
			p.StormFraction = f
		}
	})
}

func (tr *transcript) status(t *testing.T, td *datadriven.TestData) string {
	times := []string{""}
	if arg, ok := get(td, "t"); ok {
		times = arg.Vals
	}
	var out []string
	for _, tv := range times {
		at := tr.d.now
		if tv != "" {
			at = t0.Add(dur(t, tv))
		}
		st := healthy(at, 50)
		st.Server = positional(td, 0)
		if v := str(td, "power", "on"); v == "off" {
			st.Health.Power = bmc.PowerOff
		}
		if arg, ok := get(td, "fault"); ok {
			st.Health.Fault = true
			if len(arg.Vals) > 0 {
				st.Health.Detail = arg.Vals[0]
			}
		}
		switch str(td, "wd", "") {
		case "expired":
			st.Watchdog.Expired = true
		case "armed": // armed to stop the host, as a lease-gated monitor arms it
			st.Watchdog.Action = watchdog.ActionPowerDown
		case "reset":
			st.Watchdog.Action = watchdog.ActionHardReset
		case "stopped":
			st.Watchdog.Action, st.Watchdog.Running = watchdog.ActionPowerDown, false
		case "unknown":
			st.WatchdogKnown, st.WatchdogErr = false, "timeout"
		}
		st.Readings[0].Value = float(t, td, "temp", st.Readings[0].Value)
		st.Readings[1].Value = float(t, td, "volts", st.Readings[1].Value)
		if td.HasArg("fast") {
			st.Fast, st.Readings, st.WatchdogKnown = true, nil, false
		}
		if td.HasArg("unreachable") {
			*st = rack.Status{Server: st.Server, Time: at, Fast: st.Fast, Err: "timeout"}
		}
		if arg, ok := get(td, "rack"); ok {
			if _, err := fmt.Sscanf(arg.Vals[0], "%d/%d", &st.RackFailed, &st.RackSize); err != nil {
				td.Fatalf(t, "rack=%s: want FAILED/SIZE", arg.Vals[0])
			}
		}
		s := tr.show(tr.d.status(st))
		if len(times) > 1 && s != "" {
			s = strings.ReplaceAll("t="+tv+": "+s, "\n", "\nt="+tv+": ")
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n")
}

var actionKinds = map[string]ActionKind{}

func init() {
	for k := ActionNotify; k <= ActionRestart; k++ {
		actionKinds[k.String()] = k
	}
}

// namedErrors are the words err= understands; any other word is a plain
// error of that text.
var namedErrors = map[string]error{
	"indeterminate": bmc.ErrIndeterminate,
	"unreachable":   hypervisor.ErrUnreachable,
	"host-down":     hypervisor.ErrHostDown,
	"bad-image":     hypervisor.ErrBadImage,
	"name-taken":    hypervisor.ErrNameTaken,
	"no-capacity":   hypervisor.ErrNoCapacity,
	"not-found":     hypervisor.ErrNotFound,
	"unknown":       ErrOutcomeUnknown,
	"stale":         imagestore.ErrStaleGeneration,
	"lease-held":    ErrLeaseHeld,
}

var states = map[string]hypervisor.VMState{"running": hypervisor.StateRunning, "paused": hypervisor.StatePaused,
	"stopped": hypervisor.StateStopped, "unknown": hypervisor.StateUnknown}

func (tr *transcript) answer(t *testing.T, td *datadriven.TestData) string {
	kind, ok := actionKinds[positional(td, 0)]
	if !ok || kind == ActionNotify {
		td.Fatalf(t, "answer: unknown action kind %q", positional(td, 0))
	}
	name := positional(td, 1)
	var targets []Action
	switch {
	case td.HasArg("id"):
		id := uint64(num(t, td, "id", 0))
		a, ok := tr.d.open[id]
		if !ok { // an ID the engine does not wait for: sent as is
			a = Action{ID: id, Kind: kind, Image: imagestore.Image{Name: name}, Server: name}
		}
		targets = []Action{a}
	case name == "*":
		targets = tr.d.openOf(kind)
	default:
		a, ok := tr.d.find(kind, name)
		if !ok {
			return fmt.Sprintf("error: no outstanding %v for %s", kind, name)
		}
		targets = []Action{a}
	}
	var out []string
	for _, a := range targets {
		in := tr.d.success(a)
		if arg, ok := get(td, "err"); ok {
			in.Err = namedErrors[arg.Vals[0]]
			if in.Err == nil {
				in.Err = errors.New(arg.Vals[0])
			}
			in.Image = imagestore.Image{}
		}
		if arg, ok := get(td, "state"); ok {
			in.State = states[arg.Vals[0]]
		}
		if arg, ok := get(td, "owner"); ok { // the image as stored now, after a stale claim
			cur := a.Image.Clone()
			cur.Owner, cur.Generation = arg.Vals[0], uint64(num(t, td, "gen", int(a.Image.Generation+1)))
			in.Current = &cur
		}
		if arg, ok := get(td, "free"); ok {
			in.FreeKnown = true
			if _, err := fmt.Sscanf(arg.Vals[0], "%d/%d", &in.Free.MemoryMiB, &in.Free.CPUs); err != nil {
				td.Fatalf(t, "free=%s: want MiB/CPUs", arg.Vals[0])
			}
		}
		in.CanEvacuate = td.HasArg("evacuate")
		if arg, ok := get(td, "running"); ok {
			in.Running = arg.Vals
		}
		if s := tr.show(tr.d.feed(in)); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n")
}

// at moves the driver's clock to t=T when the command gives one.
func (tr *transcript) at(t *testing.T, td *datadriven.TestData) {
	if arg, ok := get(td, "t"); ok {
		tr.d.now = t0.Add(dur(t, arg.Vals[0]))
	}
}

func (tr *transcript) show(as []Action) string {
	lines := make([]string, len(as))
	for i, a := range as {
		lines[i] = describe(a)
	}
	return strings.Join(lines, "\n")
}

// rel is a time as an offset from the scenario's start.
func rel(at time.Time) string { return "t=" + at.Sub(t0).String() }

// describe is one readable line for an action.
func describe(a Action) string {
	var b strings.Builder
	b.WriteString("-> ")
	if a.Kind == ActionNotify {
		ev := a.Event
		fmt.Fprintf(&b, "%s %s", ev.Type, ev.Server)
		if ev.Cause != "" {
			fmt.Fprintf(&b, " cause=%s", ev.Cause)
		}
		if ev.Sensor != "" {
			fmt.Fprintf(&b, " %q=%g%s (threshold %g%s)", ev.Sensor, ev.Value, ev.Unit, ev.Threshold, ev.Unit)
		}
		if ev.VM != "" {
			fmt.Fprintf(&b, " vm=%s", ev.VM)
		}
		if len(ev.VMs) > 0 {
			fmt.Fprintf(&b, " vms=(%s)", strings.Join(ev.VMs, ","))
		}
		if ev.Resumed {
			b.WriteString(" resumed")
		}
		if ev.Wait > 0 {
			fmt.Fprintf(&b, " wait=%v", ev.Wait)
		}
		if ev.Message != "" {
			fmt.Fprintf(&b, ": %s", ev.Message)
		}
		return b.String()
	}
	b.WriteString(a.Kind.String())
	if a.ByLease {
		b.WriteString(" by-lease")
	}
	switch a.Kind {
	case ActionInventory, ActionScan, ActionFence:
		fmt.Fprintf(&b, " %s", a.Server)
	case ActionRestart:
		fmt.Fprintf(&b, " %s %v", a.Server, a.Power)
	case ActionCheckpoint:
		fmt.Fprintf(&b, " %s on %s by %s", a.Image.Name, a.Server, rel(a.Deadline))
	case ActionProbe:
		fmt.Fprintf(&b, " %s on %s", a.Image.Name, a.Server)
	case ActionClaim:
		fmt.Fprintf(&b, " %s gen=%d owner=%s", a.Image.Name, a.Image.Generation, a.Image.Owner)
		if a.Image.Checkpoint != "" { // a claim must clear it: stale once the VM runs again
			fmt.Fprintf(&b, " keeps %s", a.Image.Checkpoint)
		}
	case ActionStart:
		fmt.Fprintf(&b, " %s gen=%d", a.Image.Name, a.Image.Generation)
		if a.Image.Checkpoint != "" {
			fmt.Fprintf(&b, " from %s", a.Image.Checkpoint)
		}
	case ActionVMState:
		fmt.Fprintf(&b, " %s on %s", a.Image.Name, a.Server)
	}
	fmt.Fprintf(&b, " (id %d)", a.ID)
	return b.String()
}

// Argument helpers. A positional argument is one without a value.

func positional(td *datadriven.TestData, i int) string {
	n := 0
	for _, a := range td.CmdArgs {
		if len(a.Vals) == 0 {
			if n == i {
				return a.Key
			}
			n++
		}
	}
	return ""
}

func get(td *datadriven.TestData, key string) (datadriven.CmdArg, bool) {
	for _, a := range td.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return a, true
		}
	}
	return datadriven.CmdArg{}, false
}

func str(td *datadriven.TestData, key, def string) string {
	if a, ok := get(td, key); ok {
		return a.Vals[0]
	}
	return def
}

func num(t *testing.T, td *datadriven.TestData, key string, def int) int {
	a, ok := get(td, key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(a.Vals[0])
	if err != nil {
		td.Fatalf(t, "%s=%s: %v", key, a.Vals[0], err)
	}
	return n
}

func float(t *testing.T, td *datadriven.TestData, key string, def float64) float64 {
	a, ok := get(td, key)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(a.Vals[0], 64)
	if err != nil {
		td.Fatalf(t, "%s=%s: %v", key, a.Vals[0], err)
	}
	return f
}

func durArg(t *testing.T, td *datadriven.TestData, key string, def time.Duration) time.Duration {
	if a, ok := get(td, key); ok {
		return dur(t, a.Vals[0])
	}
	return def
}

func dur(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}
