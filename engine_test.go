package failover

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
)

func statusIn(st *rack.Status) Input { return Input{Kind: InputStatus, Time: st.Time, Status: st} }

func TestEngineEvacuatesOverheatedServer(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(2)
	var got []string
	for i := range 4 {
		got = append(got, kinds(d.status(healthy(t0.Add(time.Duration(i)*time.Second), 95)))...)
	}
	got = append(got, kinds(d.answer(ActionInventory, "b1", func(in *Input) { in.CanEvacuate = true }))...)
	var resumed []bool
	for _, vm := range []string{"vm0", "vm1"} {
		got = append(got, kinds(d.answer(ActionCheckpoint, vm, nil))...)
		as := d.takeOver(vm)
		for _, ev := range events(as) {
			if ev.Type == EventBackupStarted {
				resumed = append(resumed, ev.Resumed)
			}
		}
		got = append(got, kinds(as)...)
	}
	got = append(got, kinds(d.lastRead())...)
	got = append(got, kinds(d.answer(ActionRestart, "b1", nil))...)
	for range 4 {
		got = append(got, kinds(d.status(healthy(d.now.Add(time.Second), 50)))...)
	}
	want := []string{
		"detected", "inventory",
		"evacuating", "checkpoint:vm0", "checkpoint:vm1",
		"evacuated:vm0", "probe:vm0", "claim:vm0", "start:vm0", "backup-started:vm0",
		"evacuated:vm1", "probe:vm1", "claim:vm1", "start:vm1", "backup-started:vm1", "inventory", "restart:cycle",
		"restarted",
		"recovered",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	if !cmp.Equal(resumed, []bool{true, true}) {
		t.Errorf("backups resumed from their checkpoints: %v, want both", resumed)
	}
	if p := d.e.Phase("b1"); p != PhaseWatching {
		t.Errorf("phase after recovery = %v, want watching", p)
	}
}

func TestEngineIgnoresNoiseShorterThanDebounce(t *testing.T) {
	d := newDriver(t, nil)
	temps := []float64{95, 95, 50, 95, 95, 95, 50, 95, 60, 95, 95}
	for i, v := range temps {
		if as := d.status(healthy(t0.Add(time.Duration(i)*time.Second), v)); len(as) != 0 {
			t.Fatalf("poll %d (%.0f C): unexpected actions %v", i, v, kinds(as))
		}
	}
}

func TestEngineHysteresisKeepsCounting(t *testing.T) {
	d := newDriver(t, nil) // critical 90 C, 2% band: 88.2 C still counts once over
	var got []string
	for i, v := range []float64{91, 89, 88.5, 88.3} {
		got = append(got, kinds(d.status(healthy(t0.Add(time.Duration(i)*time.Second), v)))...)
	}
	if d := cmp.Diff([]string{"detected", "inventory"}, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	d = newDriver(t, nil)
	for i, v := range []float64{91, 91, 88, 91, 91} { // 88 C leaves the band: the count restarts
		if as := d.status(healthy(t0.Add(time.Duration(i)*time.Second), v)); len(as) != 0 {
			t.Fatalf("poll %d: unexpected %v", i, kinds(as))
		}
	}
}

// After the unreachable alert the engine reads the server's images once
// and names each VM at risk; it never fences or starts anything.
func TestEngineUnreachableAlertsOnceAndNeverTakesOver(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(2)
	var got []string
	for i := range 10 {
		st := &rack.Status{Server: "b1", Time: t0.Add(time.Duration(i) * time.Second), Err: "timeout"}
		got = append(got, kinds(d.status(st))...)
		if i == 4 {
			got = append(got, kinds(d.answer(ActionInventory, "b1", nil))...)
		}
		got = append(got, kinds(d.tick(500*time.Millisecond))...)
	}
	want := []string{"alert", "inventory", "alert:vm0", "alert:vm1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	if ev := events(d.all)[0]; ev.Cause != CauseBMCUnreachable || !contains(ev.Message, "3 polls") {
		t.Errorf("first alert = %+v, want cause bmc-unreachable after 3 polls", ev)
	}
	for _, ev := range events(d.all)[1:] {
		if !contains(ev.Message, "at risk") {
			t.Errorf("VM alert %q does not say the VM is at risk", ev.Message)
		}
	}
	if p := d.e.Phase("b1"); p != PhaseWatching {
		t.Errorf("phase = %v, want watching", p)
	}
	// Reachable again, then lost again: a new alert, a new list.
	d.status(healthy(d.now.Add(time.Second), 50))
	var again []string
	for range 3 {
		again = append(again, kinds(d.status(&rack.Status{Server: "b1", Time: d.now.Add(time.Second), Err: "timeout"}))...)
	}
	if d := cmp.Diff([]string{"alert", "inventory"}, again); d != "" {
		t.Errorf("second loss (-want +got):\n%s", d)
	}
}

func TestEngineDetectionModes(t *testing.T) {
	cases := []struct {
		name  string
		mod   func(*rack.Status)
		want  Cause
		polls int // the poll (1-based, one a second) that detects
	}{
		// Hard faults are judged by time (FastDwell 500 ms) and three
		// observations; sensors by DebouncePolls (4).
		{"power off", powerOff, CauseNoPower, 3},
		{"voltages at zero", func(s *rack.Status) { s.Readings[1].Value = 0.02 }, CauseNoPower, 3},
		{"blade fault", func(s *rack.Status) { s.Health.Fault, s.Health.Detail = true, "CPU IERR" }, CauseBladeFault, 3},
		{"watchdog", func(s *rack.Status) { s.Watchdog.Expired = true; s.Health.Power = bmc.PowerOff }, CauseWatchdog, 3},
		{"voltage sag", func(s *rack.Status) { s.Readings[1].Value = 10.2 }, CauseVoltage, 4},
		{"temperature", func(s *rack.Status) { s.Readings[0].Value = 92 }, CauseTemperature, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDriver(t, nil)
			var det []Event
			at := 0
			for i := range 6 {
				st := healthy(t0.Add(time.Duration(i)*time.Second), 50)
				c.mod(st)
				for _, ev := range events(d.status(st)) {
					if ev.Type == EventDetected {
						det = append(det, ev)
						at = i + 1
					}
				}
			}
			if len(det) != 1 || det[0].Cause != c.want {
				t.Fatalf("detections = %+v, want one with cause %s", det, c.want)
			}
			if at != c.polls {
				t.Errorf("detected at poll %d, want %d", at, c.polls)
			}
			if det[0].Server != "b1" || det[0].Peer != "b2" {
				t.Errorf("server/peer = %s/%s, want b1/b2", det[0].Server, det[0].Peer)
			}
		})
	}
}

func TestEngineFenceNotConfirmedLeavesVMsAndAlertsEach(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(2)
	d.detect(powerOff)
	var got []string
	got = append(got, kinds(d.answer(ActionInventory, "b1", func(in *Input) { in.CanEvacuate = true }))...)
	for range 3 {
		got = append(got, kinds(d.fail(ActionFence, "b1", fmt.Errorf("lost answer: %w", bmc.ErrIndeterminate)))...)
		got = append(got, kinds(d.tick(time.Second))...) // not yet
		got = append(got, kinds(d.tick(4*time.Second))...)
	}
	want := []string{"fence", "alert", "fence", "alert", "fence", "alert:vm0", "alert:vm1", "alert"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	if p := d.e.Phase("b1"); p != PhaseStuck {
		t.Errorf("phase = %v, want stuck", p)
	}
	last := events(d.all)[len(events(d.all))-1]
	if !cmp.Equal(last.VMs, []string{"vm0", "vm1"}) {
		t.Errorf("summary alert VMs = %v, want [vm0 vm1]", last.VMs)
	}
	if !contains(events(d.all)[1].Message, "attempt 1/3 indeterminate") {
		t.Errorf("first fence alert = %q", events(d.all)[1].Message)
	}
}

func TestEngineCapacityInPriorityOrder(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(3)
	d.detect(powerOff)
	got := kinds(d.answer(ActionInventory, "b1", func(in *Input) {
		in.Free, in.FreeKnown = hypervisor.Capacity{MemoryMiB: 2048, CPUs: 8}, true
	}))
	got = append(got, kinds(d.fence())...)
	want := []string{"alert:vm2", "fence", "fenced", "inventory", "probe:vm0", "probe:vm1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}

func TestEngineEvacuationDeadlineFallsBackToFence(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(2)
	d.detect(func(s *rack.Status) { s.Readings[0].Value = 99 })
	d.answer(ActionInventory, "b1", func(in *Input) { in.CanEvacuate = true })
	var got []string
	got = append(got, kinds(d.answer(ActionCheckpoint, "vm0", nil))...)
	got = append(got, kinds(d.takeOver("vm0"))...)
	got = append(got, kinds(d.tick(time.Minute))...) // before the deadline
	got = append(got, kinds(d.tick(2*time.Minute))...)
	got = append(got, kinds(d.fail(ActionCheckpoint, "vm1", errors.New("late")))...)
	got = append(got, kinds(d.fence())...)
	got = append(got, kinds(d.takeOver("vm1"))...)
	got = append(got, kinds(d.lastRead())...)
	want := []string{
		"evacuated:vm0", "probe:vm0", "claim:vm0", "start:vm0", "backup-started:vm0",
		"alert", "fence",
		"fenced", "inventory", "probe:vm1", "claim:vm1", "start:vm1",
		"backup-started:vm1", "inventory", "restart:on",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}

func TestEngineReplaysExactly(t *testing.T) {
	run := func() []Action {
		d := newDriver(t, nil)
		d.images["b1"] = images(5)
		d.detect(powerOff)
		d.answer(ActionInventory, "b1", nil)
		d.fence()
		d.takeOver("vm0", "vm1")
		d.fail(ActionProbe, "vm2", hypervisor.ErrHostDown)
		d.fail(ActionClaim, "vm2", errors.New("store down"))
		d.tick(5 * time.Second)
		return d.all
	}
	if d := cmp.Diff(run(), run(), cmp.Comparer(func(a, b error) bool { return fmt.Sprint(a) == fmt.Sprint(b) })); d != "" {
		t.Errorf("two runs differ:\n%s", d)
	}
}

func TestPolicyValidateNamesField(t *testing.T) {
	cases := []struct {
		mod  func(*Policy)
		want string
	}{
		{func(p *Policy) { p.Hysteresis = 1.5 }, "Policy.Hysteresis 1.5"},
		{func(p *Policy) { p.MaxParallelStarts = 0 }, "Policy.MaxParallelStarts 0"},
		{func(p *Policy) { p.StormFraction = 0 }, "Policy.StormFraction 0"},
		{func(p *Policy) { p.FenceSettle = -time.Second }, "Policy.FenceSettle -1s"},
		{func(p *Policy) { p.FastDwell = -1 }, "Policy.FastDwell -1ns"},
		{func(p *Policy) { p.Overrides = map[string]sensor.Thresholds{"x": {UpperCritical: sensor.At(nan())}} }, `Policy.Overrides["x"]`},
	}
	for _, c := range cases {
		p := DefaultPolicy()
		c.mod(&p)
		if err := p.Validate(); !errors.Is(err, ErrInvalidPolicy) || !contains(err.Error(), c.want) {
			t.Errorf("Validate = %v, want ErrInvalidPolicy naming %s", err, c.want)
		}
		if _, err := NewEngine("b2", p); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("NewEngine with %s: %v, want ErrInvalidPolicy", c.want, err)
		}
	}
	if err := DefaultPolicy().Validate(); err != nil {
		t.Errorf("DefaultPolicy().Validate() = %v", err)
	}
	if _, err := NewEngine("", DefaultPolicy()); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewEngine without a name: %v, want ErrInvalidConfig", err)
	}
}

func BenchmarkEngineStatus32Readings(b *testing.B) {
	e, _ := NewEngine("b2", DefaultPolicy())
	st := healthy(t0, 50)
	st.Readings = nil
	for i := range 32 {
		k := sensor.KindVoltage
		v := 12.0
		if i%2 == 0 {
			k, v = sensor.KindTemperature, 45
		}
		st.Readings = append(st.Readings, sensor.Reading{Name: fmt.Sprintf("s%02d", i), Kind: k, Value: v,
			Thresholds: sensor.Thresholds{LowerCritical: sensor.At(-10), UpperCaution: sensor.At(80), UpperCritical: sensor.At(90)}})
	}
	in := statusIn(st)
	b.ReportAllocs()
	for b.Loop() {
		in.Time = in.Time.Add(time.Second)
		if len(e.Step(in)) != 0 {
			b.Fatal("healthy status produced actions")
		}
	}
}

func TestEngineRetriesTransientStartFailures(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(2)
	d.detect(powerOff)
	var got []string
	got = append(got, kinds(d.answer(ActionInventory, "b1", nil))...)
	got = append(got, kinds(d.fence())...)
	got = append(got, kinds(d.answer(ActionProbe, "vm0", nil))...)
	got = append(got, kinds(d.answer(ActionProbe, "vm1", nil))...)
	got = append(got, kinds(d.answer(ActionClaim, "vm0", nil))...)
	got = append(got, kinds(d.answer(ActionClaim, "vm1", nil))...)
	got = append(got, kinds(d.fail(ActionStart, "vm0", fmt.Errorf("vCenter still sees the old copy: %w", hypervisor.ErrNameTaken)))...)
	got = append(got, kinds(d.fail(ActionStart, "vm1", fmt.Errorf("broken XML: %w", hypervisor.ErrBadImage)))...)
	got = append(got, kinds(d.tick(time.Second))...) // not yet
	got = append(got, kinds(d.tick(4*time.Second))...)
	got = append(got, kinds(d.takeOver("vm0"))...)
	got = append(got, kinds(d.lastRead())...)
	want := []string{
		"fence", "fenced", "inventory", "probe:vm0", "probe:vm1",
		"claim:vm0", "claim:vm1", "start:vm0", "start:vm1",
		"alert:vm0", // attempt 1 failed, retrying
		"alert:vm1", // bad image: given up at once
		"probe:vm0",
		"claim:vm0", "start:vm0", "backup-started:vm0", "inventory", "restart:on",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	if m := alertsAbout(d.all, "vm0"); len(m) != 1 || !contains(m[0], "attempt 1/3") {
		t.Errorf("vm0 alerts = %q", m)
	}
}

// A start that fails every attempt is given up on after StartAttempts,
// and the takeover still finishes.
func TestEngineStartGivenUpAfterAttempts(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(1)
	d.detect(powerOff)
	d.answer(ActionInventory, "b1", nil)
	d.fence()
	for i := range 3 {
		d.answer(ActionProbe, "vm0", nil)
		d.answer(ActionClaim, "vm0", nil)
		d.fail(ActionStart, "vm0", hypervisor.ErrUnreachable)
		if i < 2 {
			d.tick(5 * time.Second)
		}
	}
	m := alertsAbout(d.all, "vm0")
	if len(m) != 3 || !contains(m[2], "after 3 attempts") {
		t.Fatalf("vm0 alerts = %q, want two retries and a give-up", m)
	}
	d.lastRead()
	if _, ok := d.find(ActionRestart, "b1"); !ok {
		t.Errorf("no restart after the last VM was given up on; phase %v", d.e.Phase("b1"))
	}
}

// dangerLimits picks, each side, the first threshold set at or above the
// danger level.
func TestDangerLimits(t *testing.T) {
	ref := func(th sensor.Thresholds, level sensor.Level) (up, lo sensor.Limit) {
		ups := [...]sensor.Limit{th.UpperCaution, th.UpperCritical, th.UpperFatal}
		los := [...]sensor.Limit{th.LowerCaution, th.LowerCritical, th.LowerFatal}
		for i := int(level) - 1; i < 3; i++ {
			if !up.Set && ups[i].Set {
				up = ups[i]
			}
			if !lo.Set && los[i].Set {
				lo = los[i]
			}
		}
		return up, lo
	}
	for mask := range 1 << 6 {
		var th sensor.Thresholds
		lims := []*sensor.Limit{&th.UpperCaution, &th.UpperCritical, &th.UpperFatal, &th.LowerCaution, &th.LowerCritical, &th.LowerFatal}
		for i, l := range lims {
			if mask&(1<<i) != 0 {
				*l = sensor.At(float64(10 * (i + 1)))
			}
		}
		for _, level := range []sensor.Level{sensor.LevelCaution, sensor.LevelCritical, sensor.LevelFatal} {
			wu, wl := ref(th, level)
			gu, gl := dangerLimits(&th, level)
			if wu != gu || wl != gl {
				t.Errorf("mask %06b level %v: got %v %v, want %v %v", mask, level, gu, gl, wu, wl)
			}
		}
	}
}

// A status with threshold overrides costs no allocation either.
func TestEngineStatusWithOverridesDoesNotAllocate(t *testing.T) {
	e, _ := NewEngine("b2", func() Policy {
		p := DefaultPolicy()
		p.Overrides = map[string]sensor.Thresholds{"CPU Temp": {UpperCritical: sensor.At(95)}}
		return p
	}())
	in := statusIn(healthy(t0, 50))
	e.Step(in)
	if n := testing.AllocsPerRun(100, func() { in.Time = in.Time.Add(time.Second); e.Step(in) }); n != 0 {
		t.Errorf("%v allocations per status", n)
	}
}
