package failover

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
)

// startedTakeover detects b1 off with n VMs, answers the inventory and the
// fence and lets the settle pass: the first probes are out.
func startedTakeover(t *testing.T, n int, mod func(*Policy)) *driver {
	t.Helper()
	d := newDriver(t, mod)
	d.images["b1"] = images(n)
	d.detect(powerOff)
	d.answer(ActionInventory, "b1", nil)
	d.fence()
	return d
}

func TestEngineClaimInterpretation(t *testing.T) {
	t.Run("own earlier claim", func(t *testing.T) {
		// A claim whose answer was lost went through: the store has vm0
		// at generation 2, owned by b2. It is started without a new claim.
		d := startedTakeover(t, 1, nil)
		d.answer(ActionProbe, "vm0", nil)
		mine := imagestore.Image{Name: "vm0", Owner: "b2", PreviousOwner: "b1", Generation: 2, Priority: 1}
		got := d.answer(ActionClaim, "vm0", func(in *Input) {
			in.Err, in.Current = fmt.Errorf("claim: %w", imagestore.ErrStaleGeneration), &mine
		})
		if d := cmp.Diff([]string{"start:vm0"}, kinds(got)); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		if got[0].Image.Generation != 2 || got[0].Image.Owner != "b2" {
			t.Errorf("started %+v, want the stored claim (generation 2, owner b2)", got[0].Image)
		}
	})
	t.Run("changed by the expected owner", func(t *testing.T) {
		// b1 wrote vm0 (a checkpoint) after the inventory: claim again at
		// the new generation and resume from that checkpoint.
		d := startedTakeover(t, 1, nil)
		d.answer(ActionProbe, "vm0", nil)
		newer := imagestore.Image{Name: "vm0", Owner: "b1", Generation: 3, Checkpoint: "late", CheckpointGeneration: 3, Priority: 1}
		got := d.answer(ActionClaim, "vm0", func(in *Input) {
			in.Err, in.Current = imagestore.ErrStaleGeneration, &newer
		})
		if d := cmp.Diff([]string{"claim:vm0"}, kinds(got)); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		if got[0].Image.Generation != 3 || got[0].Image.Checkpoint != "" {
			t.Errorf("claim of %+v, want generation 3 without checkpoint", got[0].Image)
		}
		start := d.answer(ActionClaim, "vm0", nil)
		if d := cmp.Diff([]string{"start:vm0"}, kinds(start)); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		if start[0].Image.Checkpoint != "late" || start[0].Image.Generation != 4 {
			t.Errorf("start of %+v, want resumed from late at generation 4", start[0].Image)
		}
	})
	t.Run("claimed elsewhere", func(t *testing.T) {
		d := startedTakeover(t, 1, nil)
		d.answer(ActionProbe, "vm0", nil)
		theirs := imagestore.Image{Name: "vm0", Owner: "b3", PreviousOwner: "b1", Generation: 2}
		got := d.answer(ActionClaim, "vm0", func(in *Input) {
			in.Err, in.Current = imagestore.ErrStaleGeneration, &theirs
		})
		if d := cmp.Diff([]string{"alert:vm0", "inventory"}, kinds(got)); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		if m := got[0].Event.Message; !contains(m, "owned by b3") || !contains(m, ErrClaimedElsewhere.Error()) {
			t.Errorf("alert %q does not say b3 owns vm0", m)
		}
		d.tick(time.Minute)
		if _, ok := d.find(ActionStart, "vm0"); ok || slices.ContainsFunc(d.all, func(a Action) bool { return a.Kind == ActionStart }) {
			t.Error("a VM claimed elsewhere was started")
		}
	})
	t.Run("stale without the current image", func(t *testing.T) {
		d := startedTakeover(t, 1, nil)
		d.answer(ActionProbe, "vm0", nil)
		got := d.fail(ActionClaim, "vm0", imagestore.ErrStaleGeneration)
		if d := cmp.Diff([]string{"alert:vm0"}, kinds(got)); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		if d := cmp.Diff([]string{"probe:vm0"}, kinds(d.tick(5*time.Second))); d != "" {
			t.Errorf("retry (-want +got):\n%s", d)
		}
	})
}

// The VM's last host says it runs there: it is never claimed or started,
// only asked again, and given up on after StartAttempts.
func TestEngineProbeRunningElsewhereNeverStarts(t *testing.T) {
	d := startedTakeover(t, 1, nil)
	for i := range 3 {
		got := d.answer(ActionProbe, "vm0", func(in *Input) { in.State = hypervisor.StateRunning })
		if i < 2 {
			if d := cmp.Diff([]string{"alert:vm0"}, kinds(got)); d != "" {
				t.Fatalf("probe %d (-want +got):\n%s", i, d)
			}
			if d := cmp.Diff([]string{"probe:vm0"}, kinds(d.tick(5*time.Second))); d != "" {
				t.Fatalf("retry %d (-want +got):\n%s", i, d)
			}
		}
	}
	for _, a := range d.all {
		if a.Kind == ActionClaim || a.Kind == ActionStart {
			t.Fatalf("%v issued for a VM running on b1", a.Kind)
		}
	}
	m := alertsAbout(d.all, "vm0")
	if len(m) != 3 || !contains(m[0], ErrRunningElsewhere.Error()) || !contains(m[2], "after 3 attempts") {
		t.Errorf("alerts = %q", m)
	}
}

// A probe that cannot reach the failed server's hypervisor does not stop
// the start: the fence is confirmed.
func TestEngineProbeUnreachableStillStarts(t *testing.T) {
	d := startedTakeover(t, 1, nil)
	got := d.fail(ActionProbe, "vm0", hypervisor.ErrHostDown)
	if d := cmp.Diff([]string{"claim:vm0"}, kinds(got)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestEngineOutcomeUnknownStartIsVerified(t *testing.T) {
	unknown := Abandoned(Action{Kind: ActionStart, Image: imagestore.Image{Name: "vm0"}}, errors.New("no answer within 2m"))
	t.Run("it runs", func(t *testing.T) {
		d := startedTakeover(t, 1, nil)
		d.answer(ActionProbe, "vm0", nil)
		d.answer(ActionClaim, "vm0", nil)
		if got := d.fail(ActionStart, "vm0", unknown); len(got) != 0 {
			t.Fatalf("unknown outcome: %v, want nothing yet", kinds(got))
		}
		if n := d.e.Next(); !n.Equal(d.now.Add(5 * time.Second)) {
			t.Errorf("Next = %v, want the check in 5s", n.Sub(d.now))
		}
		if got := d.tick(4 * time.Second); len(got) != 0 {
			t.Fatalf("early: %v", kinds(got))
		}
		if d := cmp.Diff([]string{"vm-state:vm0"}, kinds(d.tick(time.Second))); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		got := d.answer(ActionVMState, "vm0", nil)
		if d := cmp.Diff([]string{"backup-started:vm0", "inventory"}, kinds(got)); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
	})
	t.Run("it does not", func(t *testing.T) {
		d := startedTakeover(t, 1, nil)
		d.answer(ActionProbe, "vm0", nil)
		d.answer(ActionClaim, "vm0", nil)
		d.fail(ActionStart, "vm0", unknown)
		d.tick(5 * time.Second)
		got := d.answer(ActionVMState, "vm0", func(in *Input) { in.State, in.Err = 0, hypervisor.ErrNotFound })
		if d := cmp.Diff([]string{"alert:vm0"}, kinds(got)); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		if d := cmp.Diff([]string{"probe:vm0"}, kinds(d.tick(5*time.Second))); d != "" {
			t.Errorf("retry (-want +got):\n%s", d)
		}
	})
	t.Run("its state cannot be read", func(t *testing.T) {
		d := startedTakeover(t, 1, nil)
		d.answer(ActionProbe, "vm0", nil)
		d.answer(ActionClaim, "vm0", nil)
		d.fail(ActionStart, "vm0", unknown)
		for range 3 {
			d.tick(5 * time.Second)
			d.fail(ActionVMState, "vm0", hypervisor.ErrUnreachable)
		}
		m := alertsAbout(d.all, "vm0")
		if len(m) != 1 || !contains(m[0], "outcome unknown after 3 reads") {
			t.Errorf("alerts = %q, want one giving up after 3 reads", m)
		}
		d.tick(time.Hour)
		starts := 0
		for _, a := range d.all {
			if a.Kind == ActionStart {
				starts++
			}
		}
		if starts != 1 {
			t.Errorf("%d starts, want 1: never again while the first may be running", starts)
		}
	})
}

func TestEngineIgnoresUnknownAndLateAnswers(t *testing.T) {
	d := startedTakeover(t, 2, nil)
	probe, _ := d.find(ActionProbe, "vm0")
	var fence Action
	for _, a := range d.all {
		if a.Kind == ActionFence {
			fence = a
		}
	}
	before := d.e.Outstanding()
	for _, in := range []Input{
		{Kind: InputStarted, ID: 9999},                                    // never issued
		{Kind: InputStarted, ID: probe.ID},                                // the wrong kind for its ID
		{Kind: InputFenced, ID: probe.ID, Err: errors.New("x")},           // ditto
		{Kind: InputClaimed, ID: 0, Image: imagestore.Image{Name: "vm0"}}, // no ID
		{Kind: InputInventory, ID: 1, Images: images(5), FreeKnown: true}, // answered long ago
		{Kind: InputFenced, ID: fence.ID, Err: bmc.ErrIndeterminate},      // the fence, answered already
	} {
		if got := d.e.Step(Input{Kind: in.Kind, ID: in.ID, Err: in.Err, Images: in.Images, Time: d.now}); len(got) != 0 {
			t.Errorf("%v with ID %d: %v, want nothing", in.Kind, in.ID, kinds(got))
		}
	}
	if d.e.Outstanding() != before || d.e.Phase("b1") != PhaseStarting {
		t.Fatalf("outstanding %d -> %d, phase %v", before, d.e.Outstanding(), d.e.Phase("b1"))
	}
	first := d.answer(ActionProbe, "vm0", nil)
	if got := d.e.Step(Input{Kind: InputProbed, ID: probe.ID, Time: d.now, State: hypervisor.StateRunning}); len(got) != 0 {
		t.Errorf("the same probe answered twice: %v", kinds(got))
	}
	if d := cmp.Diff([]string{"claim:vm0"}, kinds(first)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// finalOutcome runs a takeover of 6 VMs (vm3's image is bad, vm4's start
// fails once) and answers whatever is outstanding in the order pick
// chooses, ticking when nothing is. It returns the events, sorted, with
// times dropped.
func finalOutcome(t *testing.T, pick func(open []Action) int) []string {
	d := newDriver(t, func(p *Policy) { p.MaxParallelStarts = 3 })
	d.images["b1"] = images(6)
	d.detect(powerOff)
	failed := map[string]bool{}
	for steps := 0; d.e.Phase("b1") != PhaseRecovering; steps++ {
		if steps > 500 {
			t.Fatalf("no end; phase %v, open %v", d.e.Phase("b1"), d.open)
		}
		var open []Action
		for _, a := range d.open {
			open = append(open, a)
		}
		if len(open) == 0 {
			d.tick(time.Second)
			continue
		}
		slices.SortFunc(open, func(a, b Action) int { return int(a.ID) - int(b.ID) })
		a := open[pick(open)]
		in := d.success(a)
		switch {
		case a.Kind == ActionStart && a.Image.Name == "vm3":
			in.Err = hypervisor.ErrBadImage
		case a.Kind == ActionStart && a.Image.Name == "vm4" && !failed["vm4"]:
			failed["vm4"] = true
			in.Err = hypervisor.ErrUnreachable
		}
		d.feed(in)
	}
	if d.peakStarts > 3 {
		t.Errorf("%d starts outstanding at once, MaxParallelStarts 3", d.peakStarts)
	}
	var out []string
	for _, ev := range events(d.all) {
		out = append(out, fmt.Sprintf("%s %s %s", ev.Type, ev.VM, strings.Join(ev.VMs, ",")))
	}
	slices.Sort(out)
	return out
}

func TestEngineAnswersInAnyOrder(t *testing.T) {
	want := finalOutcome(t, func([]Action) int { return 0 })
	if !slices.Contains(want, "alert vm3 ") || !slices.Contains(want, "backup-started vm4 ") || !slices.Contains(want, "restarted  ") {
		t.Fatalf("in-order outcome unexpected: %q", want)
	}
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		got := finalOutcome(t, func(open []Action) int { return r.IntN(len(open)) })
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("seed %d: outcome differs from in-order answers (-want +got):\n%s", seed, d)
		}
	}
	newest := finalOutcome(t, func(open []Action) int { return len(open) - 1 })
	if d := cmp.Diff(want, newest); d != "" {
		t.Errorf("newest first: outcome differs (-want +got):\n%s", d)
	}
}

func TestEngineMaxParallelStarts(t *testing.T) {
	d := startedTakeover(t, 10, func(p *Policy) { p.MaxParallelStarts = 3 })
	if got := kinds(d.openOf(ActionProbe)); !cmp.Equal(got, []string{"probe:vm0", "probe:vm1", "probe:vm2"}) {
		t.Fatalf("first probes %v, want the 3 of highest priority", got)
	}
	// A probe turning into a claim keeps its slot.
	if got := kinds(d.answer(ActionProbe, "vm1", nil)); !cmp.Equal(got, []string{"claim:vm1"}) {
		t.Fatalf("after probe: %v", got)
	}
	d.answer(ActionClaim, "vm1", nil)
	// The slot frees when the start returns: the next VM by priority goes.
	if got := kinds(d.answer(ActionStart, "vm1", nil)); !cmp.Equal(got, []string{"backup-started:vm1", "probe:vm3"}) {
		t.Fatalf("after a start: %v", got)
	}
	// A start that fails frees its slot too while it waits for the retry.
	d.answer(ActionProbe, "vm0", nil)
	d.answer(ActionClaim, "vm0", nil)
	if got := kinds(d.fail(ActionStart, "vm0", hypervisor.ErrUnreachable)); !cmp.Equal(got, []string{"alert:vm0", "probe:vm4"}) {
		t.Fatalf("after a failed start: %v", got)
	}
	// Outcome unknown: the slot is free while waiting for the check, and
	// the check waits for a slot.
	d.answer(ActionProbe, "vm2", nil)
	d.answer(ActionClaim, "vm2", nil)
	d.fail(ActionStart, "vm2", ErrOutcomeUnknown)
	for range 40 {
		if len(d.openOf(ActionProbe)) == 0 && len(d.openOf(ActionClaim)) == 0 && len(d.openOf(ActionStart)) == 0 &&
			len(d.openOf(ActionVMState)) == 0 {
			d.tick(time.Second)
			continue
		}
		for _, k := range []ActionKind{ActionProbe, ActionClaim, ActionStart, ActionVMState} {
			if as := d.openOf(k); len(as) > 0 {
				d.answer(k, as[0].Image.Name, nil)
				break
			}
		}
	}
	if d.peakStarts != 3 {
		t.Errorf("peak outstanding starts %d, want 3", d.peakStarts)
	}
	started := 0
	for _, ev := range events(d.all) {
		if ev.Type == EventBackupStarted {
			started++
		}
	}
	d.lastRead()
	if started != 10 || d.e.Phase("b1") != PhaseRestarting {
		t.Errorf("%d started, phase %v; want 10, restarting", started, d.e.Phase("b1"))
	}
}

func TestEngineMaxParallelCheckpoints(t *testing.T) {
	d := newDriver(t, func(p *Policy) { p.MaxParallelStarts = 2 })
	d.images["b1"] = images(5)
	d.detect(func(s *rack.Status) { s.Readings[0].Value = 99 })
	d.answer(ActionInventory, "b1", func(in *Input) { in.CanEvacuate = true })
	for range 30 {
		if as := d.openOf(ActionCheckpoint); len(as) > 0 {
			d.answer(ActionCheckpoint, as[len(as)-1].Image.Name, nil)
			continue
		}
		for _, k := range []ActionKind{ActionProbe, ActionClaim, ActionStart} {
			if as := d.openOf(k); len(as) > 0 {
				d.answer(k, as[0].Image.Name, nil)
				break
			}
		}
	}
	if d.peakCkpts != 2 || d.peakStarts > 2 {
		t.Errorf("peak checkpoints %d, starts %d; want 2 and at most 2", d.peakCkpts, d.peakStarts)
	}
	d.lastRead()
	if _, ok := d.find(ActionRestart, "b1"); !ok {
		t.Errorf("evacuation not finished: phase %v", d.e.Phase("b1"))
	}
}

func TestEngineStormHoldsAndReleases(t *testing.T) {
	d := newDriver(t, func(p *Policy) { p.StormFraction = 0.5 })
	d.images["b1"] = images(2)
	storm := func(failed int) func(*rack.Status) {
		return func(s *rack.Status) { powerOff(s); s.RackFailed, s.RackSize = failed, 4 }
	}
	d.detect(storm(3))
	got := d.answer(ActionInventory, "b1", nil)
	if d := cmp.Diff([]string{"alert"}, kinds(got)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if ev := got[0].Event; !cmp.Equal(ev.VMs, []string{"vm0", "vm1"}) || !contains(ev.Message, "3 of 4") {
		t.Errorf("hold alert %+v, want VMs [vm0 vm1] and 3 of 4", ev)
	}
	if p := d.e.Phase("b1"); p != PhaseHeld {
		t.Fatalf("phase %v, want held", p)
	}
	for i := range 5 { // the storm goes on: statuses and ticks do nothing, one alert only
		st := healthy(d.now.Add(time.Second), 50)
		storm(3)(st)
		got = append(d.status(st), d.tick(time.Duration(i)*time.Millisecond)...)
		if len(got) != 0 {
			t.Fatalf("during the storm: %v", kinds(got))
		}
	}
	// Half the rack failed is not more than half: the storm is over.
	st := healthy(d.now.Add(time.Second), 50)
	storm(2)(st)
	d.status(st)
	got = d.tick(0)
	if d := cmp.Diff([]string{"alert", "fence"}, kinds(got)); d != "" {
		t.Fatalf("release (-want +got):\n%s", d)
	}
	if !contains(got[0].Event.Message, "storm over") {
		t.Errorf("release alert %q", got[0].Event.Message)
	}
}

func TestEngineStormGuardOff(t *testing.T) {
	d := newDriver(t, func(p *Policy) { p.StormFraction = 1 })
	d.images["b1"] = images(1)
	d.detect(func(s *rack.Status) { powerOff(s); s.RackFailed, s.RackSize = 4, 4 })
	if got := kinds(d.answer(ActionInventory, "b1", nil)); !cmp.Equal(got, []string{"fence"}) {
		t.Errorf("StormFraction 1: %v, want a fence", got)
	}
}

func TestEngineFenceSettle(t *testing.T) {
	d := newDriver(t, func(p *Policy) { p.FenceSettle = 3 * time.Second })
	d.images["b1"] = images(1)
	d.detect(powerOff)
	d.answer(ActionInventory, "b1", nil)
	if got := kinds(d.answer(ActionFence, "b1", nil)); !cmp.Equal(got, []string{"fenced"}) {
		t.Fatalf("fenced: %v", got)
	}
	if n := d.e.Next(); !n.Equal(d.now.Add(3 * time.Second)) {
		t.Errorf("Next = %v, want the end of the settle", n.Sub(d.now))
	}
	if got := d.tick(2999 * time.Millisecond); len(got) != 0 {
		t.Fatalf("before the settle: %v", kinds(got))
	}
	if got := kinds(d.tick(time.Millisecond)); !cmp.Equal(got, []string{"inventory"}) {
		t.Errorf("after the settle: %v, want the inventory read again", got)
	}
	if got := kinds(d.answer(ActionInventory, "b1", nil)); !cmp.Equal(got, []string{"probe:vm0"}) {
		t.Errorf("after the second inventory: %v", got)
	}

	d = newDriver(t, func(p *Policy) { p.FenceSettle = 0 })
	d.images["b1"] = images(1)
	d.detect(powerOff)
	d.answer(ActionInventory, "b1", nil)
	if got := kinds(d.answer(ActionFence, "b1", nil)); !cmp.Equal(got, []string{"fenced", "inventory"}) {
		t.Errorf("no settle: %v", got)
	}
}

func fast(at time.Time, off bool) *rack.Status {
	st := &rack.Status{Server: "b1", Time: at, Reachable: true, Fast: true, Health: bmc.Health{Power: bmc.PowerOn}}
	if off {
		st.Health.Power = bmc.PowerOff
	}
	return st
}

func TestEngineFastPolls(t *testing.T) {
	const every = 250 * time.Millisecond
	t.Run("detects within FastDwell", func(t *testing.T) {
		d := newDriver(t, nil)
		d.status(healthy(t0, 50))
		var at time.Duration
		for i := range 10 {
			now := t0.Add(time.Second + time.Duration(i)*every)
			if evs := events(d.status(fast(now, true))); len(evs) == 1 && evs[0].Type == EventDetected {
				at = now.Sub(t0.Add(time.Second))
				if !contains(evs[0].Message, "fast polls") || evs[0].Cause != CauseNoPower {
					t.Errorf("detection %+v", evs[0])
				}
				break
			}
		}
		if at != 500*time.Millisecond {
			t.Errorf("detected %v after the first fast poll saw power off, want 500ms (FastDwell)", at)
		}
	})
	t.Run("one glitch ignored", func(t *testing.T) {
		d := newDriver(t, nil)
		for i := range 40 {
			now := t0.Add(time.Duration(i) * every)
			if got := d.status(fast(now, i%3 == 1 || i%7 == 0)); len(got) != 0 {
				t.Fatalf("fast poll %d: %v", i, kinds(got))
			}
			if i%4 == 0 {
				d.status(healthy(now, 50))
			}
		}
	})
	t.Run("two observations spanning the dwell are not enough", func(t *testing.T) {
		d := newDriver(t, nil)
		d.status(fast(t0, true))
		if got := d.status(fast(t0.Add(time.Second), true)); len(got) != 0 {
			t.Fatalf("second observation: %v", kinds(got))
		}
		if got := kinds(d.status(fast(t0.Add(time.Second+every), true))); !cmp.Equal(got, []string{"detected", "inventory"}) {
			t.Errorf("third observation: %v", got)
		}
	})
	t.Run("fast polls do not judge sensors or count unreachability", func(t *testing.T) {
		d := newDriver(t, nil)
		for i := range 10 {
			st := fast(t0.Add(time.Duration(i)*every), false)
			if i%2 == 0 {
				st = &rack.Status{Server: "b1", Time: st.Time, Fast: true, Err: "timeout"}
			}
			if got := d.status(st); len(got) != 0 {
				t.Fatalf("fast poll %d: %v", i, kinds(got))
			}
		}
	})
}

func TestEngineReconcileAfterRestart(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b2"] = []imagestore.Image{
		{Name: "web", Owner: "b2", PreviousOwner: "b1", Generation: 4, Priority: 5},
		{Name: "db", Owner: "b2", Generation: 2, Priority: 9},
		{Name: "cache", Owner: "b2", Generation: 7, Priority: 1},
	}
	if got := kinds(d.boot()); !cmp.Equal(got, []string{"scan"}) {
		t.Fatalf("boot: %v", got)
	}
	got := d.answer(ActionScan, "b2", func(in *Input) { in.Running = []string{"cache"} })
	// db never moved: claimed straight away; web came from b1: ask b1 first.
	if d := cmp.Diff([]string{"claim:db", "probe:web"}, kinds(got)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if img := got[0].Image; img.Owner != "b2" || img.Generation != 2 {
		t.Errorf("claim of %+v: want the stored generation 2, owned by b2 (a re-claim bumps the token)", img)
	}
	if got[1].Server != "b1" {
		t.Errorf("probe asks %s, want b1 (PreviousOwner)", got[1].Server)
	}
	got = d.answer(ActionClaim, "db", nil)
	if len(got) != 1 || got[0].Kind != ActionStart || got[0].Image.Generation != 3 {
		t.Fatalf("after the re-claim: %v %+v", kinds(got), got)
	}
	got = d.answer(ActionStart, "db", nil)
	if d := cmp.Diff([]string{"reconciled:db"}, kinds(got)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	d.answer(ActionProbe, "web", nil)
	d.answer(ActionClaim, "web", nil)
	if got := kinds(d.answer(ActionStart, "web", nil)); !cmp.Equal(got, []string{"reconciled:web"}) {
		t.Errorf("web: %v", got)
	}
	// A second boot with everything running starts nothing.
	d.boot()
	if got := d.answer(ActionScan, "b2", func(in *Input) { in.Running = []string{"cache", "db", "web"} }); len(got) != 0 {
		t.Errorf("second reconcile: %v", kinds(got))
	}
	for _, a := range d.all {
		if a.Kind == ActionStart && a.Image.Name == "cache" {
			t.Error("a VM already running was started again")
		}
	}
}

func TestEngineReconcileRetriesAndNamesPreviousOwner(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b2"] = []imagestore.Image{{Name: "web", Owner: "b2", PreviousOwner: "b1", Generation: 4}}
	d.boot()
	got := d.fail(ActionScan, "b2", errors.New("store down"))
	if d := cmp.Diff([]string{"alert"}, kinds(got)); d != "" || !contains(got[0].Event.Message, "store down") {
		t.Fatalf("scan failure (-want +got):\n%s %v", d, got)
	}
	if got := kinds(d.tick(5 * time.Second)); !cmp.Equal(got, []string{"scan"}) {
		t.Fatalf("rescan: %v", got)
	}
	d.answer(ActionScan, "b2", nil)
	for i := range 3 {
		d.answer(ActionProbe, "web", nil)
		d.answer(ActionClaim, "web", nil)
		got := d.fail(ActionStart, "web", hypervisor.ErrUnreachable)
		if len(got) != 1 || got[0].Event.Type != EventAlert || got[0].Event.Server != "b1" || got[0].Event.Peer != "b2" {
			t.Fatalf("attempt %d: %+v, want an alert about b1 (where web came from) from b2", i+1, got)
		}
		if i < 2 {
			if got := kinds(d.tick(5 * time.Second)); !cmp.Equal(got, []string{"probe:web"}) {
				t.Fatalf("retry %d: %v", i+1, got)
			}
		}
	}
	if m := alertsAbout(d.all, "web"); !contains(m[len(m)-1], "after 3 attempts") {
		t.Errorf("last alert %q", m[len(m)-1])
	}
	if got := d.tick(time.Hour); len(got) != 0 {
		t.Errorf("after giving up: %v", kinds(got))
	}
}

// The watcher's own reconcile starts before its takeovers (it owns those
// VMs already), within the same bound.
func TestEngineReconcileFirstWithinTheBound(t *testing.T) {
	d := newDriver(t, func(p *Policy) { p.MaxParallelStarts = 2 })
	d.images["b1"] = images(3)
	d.images["b2"] = []imagestore.Image{{Name: "own1", Owner: "b2", Generation: 1}, {Name: "own2", Owner: "b2", Generation: 1}}
	d.detect(powerOff)
	d.answer(ActionInventory, "b1", nil)
	d.answer(ActionFence, "b1", nil)
	d.boot()
	d.answer(ActionScan, "b2", nil)
	if got := kinds(d.tick(time.Second)); !cmp.Equal(got, []string{"inventory"}) { // the settle ends
		t.Fatalf("%v, want the inventory read again", got)
	}
	got := d.answer(ActionInventory, "b1", nil) // no slot left
	if len(got) != 0 {
		t.Fatalf("%v, want nothing while reconcile holds both slots", kinds(got))
	}
	if got := kinds(append(d.openOf(ActionClaim), d.openOf(ActionProbe)...)); !cmp.Equal(got, []string{"claim:own1", "claim:own2"}) {
		t.Errorf("outstanding %v", got)
	}
	d.answer(ActionClaim, "own1", nil)
	if got := kinds(d.answer(ActionStart, "own1", nil)); !cmp.Equal(got, []string{"reconciled:own1", "probe:vm0"}) {
		t.Errorf("after own1: %v", got)
	}
}

// The evacuation deadline passing while a checkpointed VM's start is
// still out leaves nothing due: Next must not stay in the past (a runner
// waiting for Next would spin until the start returns).
func TestEngineNextAfterEvacuationDeadline(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(1)
	d.detect(func(s *rack.Status) { s.Readings[0].Value = 99 })
	d.answer(ActionInventory, "b1", func(in *Input) { in.CanEvacuate = true })
	d.answer(ActionCheckpoint, "vm0", nil)
	d.answer(ActionProbe, "vm0", nil)
	d.answer(ActionClaim, "vm0", nil)
	if got := d.tick(3 * time.Minute); len(got) != 0 { // the start is still out
		t.Fatalf("after the deadline: %v", kinds(got))
	}
	if got := kinds(d.answer(ActionStart, "vm0", nil)); !cmp.Equal(got, []string{"backup-started:vm0", "inventory"}) {
		t.Errorf("%v", got)
	}
}

// A server held by the storm guard that comes back healthy (the PDU is
// back) is watched again, not fenced when the storm ends.
func TestEngineStormHeldServerThatRecoversIsNotTakenOver(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(2)
	d.detect(func(s *rack.Status) { powerOff(s); s.RackFailed, s.RackSize = 3, 4 })
	d.answer(ActionInventory, "b1", nil)
	var got []string
	for i := range 4 {
		st := healthy(d.now.Add(time.Second), 50)
		st.RackFailed, st.RackSize = 3-i/2, 4 // the others come back too
		got = append(got, kinds(d.status(st))...)
		got = append(got, kinds(d.tick(0))...)
	}
	if d := cmp.Diff([]string{"recovered"}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if p := d.e.Phase("b1"); p != PhaseWatching {
		t.Errorf("phase %v, want watching", p)
	}
	if got := d.tick(time.Minute); len(got) != 0 {
		t.Errorf("after the storm: %v", kinds(got))
	}
}

// The state read of a start whose outcome is unknown waits for a slot
// like any start: the hypervisor may still be working on that start.
func TestEngineVMStateReadsWithinTheBound(t *testing.T) {
	d := startedTakeover(t, 3, func(p *Policy) { p.MaxParallelStarts = 2 })
	d.answer(ActionProbe, "vm0", nil)
	d.answer(ActionClaim, "vm0", nil)
	if got := kinds(d.fail(ActionStart, "vm0", ErrOutcomeUnknown)); !cmp.Equal(got, []string{"probe:vm2"}) {
		t.Fatalf("after the unknown start: %v", got)
	}
	if got := d.tick(5 * time.Second); len(got) != 0 {
		t.Fatalf("both slots are taken, yet: %v", kinds(got))
	}
	if got := kinds(d.answer(ActionProbe, "vm1", nil)); !cmp.Equal(got, []string{"claim:vm1"}) {
		t.Fatalf("%v", got)
	}
	d.answer(ActionClaim, "vm1", nil)
	// vm1's start returns: its slot goes to the state read first.
	if got := kinds(d.answer(ActionStart, "vm1", nil)); !cmp.Equal(got, []string{"backup-started:vm1", "vm-state:vm0"}) {
		t.Fatalf("%v", got)
	}
	if d.peakStarts != 2 {
		t.Errorf("peak %d outstanding, want 2", d.peakStarts)
	}
}

// The inventory of an unreachable server's VMs may fail too: one alert
// says so, and still nothing is taken over.
func TestEngineAtRiskInventoryFails(t *testing.T) {
	d := newDriver(t, nil)
	for i := range 3 {
		d.status(&rack.Status{Server: "b1", Time: t0.Add(time.Duration(i) * time.Second), Err: "timeout"})
	}
	got := d.fail(ActionInventory, "b1", errors.New("store down"))
	if len(got) != 1 || got[0].Event.Type != EventAlert || !contains(got[0].Event.Message, "cannot list its VMs: store down") {
		t.Errorf("%+v", got)
	}
	if got := d.tick(time.Hour); len(got) != 0 || d.e.Outstanding() != 0 {
		t.Errorf("later: %v, %d outstanding", kinds(got), d.e.Outstanding())
	}
}

// A checkpoint answered after its evacuation was given up on, the server
// fenced in vain and then detected again, answers the old checkpoint,
// not the new one asked of the same VM.
func TestEngineLateAnswerFromAnEarlierTakeover(t *testing.T) {
	d := newDriver(t, func(p *Policy) { p.FenceAttempts = 1 })
	d.images["b1"] = images(1)
	hot := func(s *rack.Status) { s.Readings[0].Value = 99 }
	d.detect(hot)
	d.answer(ActionInventory, "b1", func(in *Input) { in.CanEvacuate = true })
	old, _ := d.find(ActionCheckpoint, "vm0")
	d.tick(3 * time.Minute) // deadline: fence
	d.fail(ActionFence, "b1", bmc.ErrIndeterminate)
	if p := d.e.Phase("b1"); p != PhaseStuck {
		t.Fatalf("phase %v, want stuck", p)
	}
	for range 4 {
		d.status(healthy(d.now.Add(time.Second), 50))
	}
	for range 4 {
		st := healthy(d.now.Add(time.Second), 50)
		hot(st)
		d.status(st)
	}
	d.answer(ActionInventory, "b1", func(in *Input) { in.CanEvacuate = true })
	if _, ok := d.find(ActionCheckpoint, "vm0"); !ok {
		t.Fatalf("second evacuation did not ask for a checkpoint; phase %v", d.e.Phase("b1"))
	}
	in := d.success(old)
	in.Image.Checkpoint = "stale-ckpt"
	if got := d.feed(in); len(got) != 0 {
		t.Errorf("the first evacuation's checkpoint answered the second: %v", kinds(got))
	}
	if got := kinds(d.answer(ActionCheckpoint, "vm0", nil)); !cmp.Equal(got, []string{"evacuated:vm0", "probe:vm0"}) {
		t.Errorf("the second checkpoint's own answer: %v", got)
	}
}

// A VM the watcher is about to start (here by its reconcile) takes
// capacity the hypervisor does not show as used yet: a takeover's
// inventory leaves room for it.
func TestEngineInventoryReservesCapacityOfStartsUnderWay(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b2"] = []imagestore.Image{{Name: "mine", Owner: "b2", Generation: 2, MemoryMiB: 1024, CPUs: 1}}
	d.images["b1"] = images(2) // 1024 MiB and 1 CPU each
	d.boot()
	d.answer(ActionScan, "b2", nil) // "mine" is queued: claim under way
	d.detect(func(s *rack.Status) { s.Health.Power = bmc.PowerOff })
	got := d.answer(ActionInventory, "b1", func(in *Input) {
		in.Free, in.FreeKnown = hypervisor.Capacity{MemoryMiB: 2048, CPUs: 2}, true
	})
	var left []string
	for _, ev := range events(got) {
		if ev.Type == EventAlert && strings.Contains(ev.Message, "not taken over: needs") {
			left = append(left, ev.VM)
		}
	}
	if !cmp.Equal(left, []string{"vm1"}) {
		t.Errorf("left out %v, want [vm1]: room for vm0 only once the reconcile's VM is counted", left)
	}
}
