package failover

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

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

func images(n int) []imagestore.Image {
	var out []imagestore.Image
	for i := range n {
		out = append(out, imagestore.Image{Name: fmt.Sprintf("vm%d", i), Owner: "b1", Generation: 1, Priority: n - i, MemoryMiB: 1024, CPUs: 1})
	}
	return out
}

// kinds summarises actions as "kind:detail" for compact diffs.
func kinds(as []Action) []string {
	var out []string
	for _, a := range as {
		s := a.Kind.String()
		switch a.Kind {
		case ActionNotify:
			s += ":" + string(a.Event.Type)
			if a.Event.VM != "" {
				s += ":" + a.Event.VM
			}
		case ActionCheckpoint, ActionStartBackup:
			s += ":" + a.Image.Name
		case ActionRestart:
			s += ":" + a.Power.String()
		}
		out = append(out, s)
	}
	return out
}

func step(e *Engine, in Input) []Action { return append([]Action(nil), e.Step(in)...) }

func statusIn(st *rack.Status) Input { return Input{Kind: InputStatus, Time: st.Time, Status: st} }

func newEngine(t *testing.T, mod func(*Policy)) *Engine {
	t.Helper()
	p := DefaultPolicy()
	if mod != nil {
		mod(&p)
	}
	e, err := NewEngine("b2", p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEngineEvacuatesOverheatedServer(t *testing.T) {
	e := newEngine(t, nil)
	var got []string
	for i := range 3 {
		got = append(got, kinds(step(e, statusIn(healthy(t0.Add(time.Duration(i)*time.Second), 95))))...)
	}
	now := t0.Add(3 * time.Second)
	got = append(got, kinds(step(e, Input{Kind: InputInventory, Time: now, Server: "b1", Images: images(2), CanEvacuate: true}))...)
	for i, img := range images(2) {
		img.Checkpoint = fmt.Sprintf("ckpt-%d", i)
		img.Generation = 2
		got = append(got, kinds(step(e, Input{Kind: InputCheckpointed, Time: now, Server: "b1", Image: img}))...)
		got = append(got, kinds(step(e, Input{Kind: InputStarted, Time: now, Server: "b1", Image: img}))...)
	}
	got = append(got, kinds(step(e, Input{Kind: InputRestarted, Time: now, Server: "b1"}))...)
	for i := range 3 {
		got = append(got, kinds(step(e, statusIn(healthy(now.Add(time.Duration(i+1)*time.Second), 50))))...)
	}
	want := []string{
		"notify:detected", "inventory",
		"notify:evacuating", "checkpoint:vm0", "checkpoint:vm1",
		"notify:evacuated:vm0", "start-backup:vm0", "notify:backup-started:vm0",
		"notify:evacuated:vm1", "start-backup:vm1", "notify:backup-started:vm1", "restart:cycle",
		"notify:restarted",
		"notify:recovered",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	if p := e.Phase("b1"); p != PhaseWatching {
		t.Errorf("phase after recovery = %v, want watching", p)
	}
}

func TestEngineIgnoresNoiseShorterThanDebounce(t *testing.T) {
	e := newEngine(t, nil)
	temps := []float64{95, 95, 50, 95, 50, 95, 95, 60}
	for i, v := range temps {
		if as := step(e, statusIn(healthy(t0.Add(time.Duration(i)*time.Second), v))); len(as) != 0 {
			t.Fatalf("poll %d (%.0f C): unexpected actions %v", i, v, kinds(as))
		}
	}
}

func TestEngineHysteresisKeepsCounting(t *testing.T) {
	e := newEngine(t, nil) // critical 90 C, 2% band: 88.2 C still counts once over
	var got []string
	for i, v := range []float64{91, 89, 88.5} {
		got = append(got, kinds(step(e, statusIn(healthy(t0.Add(time.Duration(i)*time.Second), v))))...)
	}
	if d := cmp.Diff([]string{"notify:detected", "inventory"}, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	e = newEngine(t, nil)
	for i, v := range []float64{91, 88, 91} { // 88 C leaves the band: the count restarts
		if as := step(e, statusIn(healthy(t0.Add(time.Duration(i)*time.Second), v))); len(as) != 0 {
			t.Fatalf("poll %d: unexpected %v", i, kinds(as))
		}
	}
}

func TestEngineUnreachableAlertsOnceAndNeverTakesOver(t *testing.T) {
	e := newEngine(t, nil)
	var got []string
	for i := range 10 {
		st := &rack.Status{Server: "b1", Time: t0.Add(time.Duration(i) * time.Second), Err: "timeout"}
		got = append(got, kinds(step(e, statusIn(st)))...)
	}
	if d := cmp.Diff([]string{"notify:alert"}, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}

func TestEngineDetectionModes(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*rack.Status)
		want Cause
	}{
		{"power off", func(s *rack.Status) { s.Health.Power = bmc.PowerOff }, CauseNoPower},
		{"voltages at zero", func(s *rack.Status) {
			s.Readings[1].Value = 0.02
		}, CauseNoPower},
		{"blade fault", func(s *rack.Status) { s.Health.Fault, s.Health.Detail = true, "CPU IERR" }, CauseBladeFault},
		{"watchdog", func(s *rack.Status) { s.Watchdog.Expired = true; s.Health.Power = bmc.PowerOff }, CauseWatchdog},
		{"voltage sag", func(s *rack.Status) { s.Readings[1].Value = 10.2 }, CauseVoltage},
		{"temperature", func(s *rack.Status) { s.Readings[0].Value = 92 }, CauseTemperature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, nil)
			var det []Event
			for i := range 3 {
				st := healthy(t0.Add(time.Duration(i)*time.Second), 50)
				c.mod(st)
				for _, a := range step(e, statusIn(st)) {
					if a.Kind == ActionNotify && a.Event.Type == EventDetected {
						det = append(det, a.Event)
					}
				}
			}
			if len(det) != 1 || det[0].Cause != c.want {
				t.Fatalf("detections = %+v, want one with cause %s", det, c.want)
			}
			if det[0].Server != "b1" || det[0].Peer != "b2" {
				t.Errorf("server/peer = %s/%s, want b1/b2", det[0].Server, det[0].Peer)
			}
		})
	}
}

func detect(t *testing.T, e *Engine, mod func(*rack.Status)) time.Time {
	t.Helper()
	var at time.Time
	for i := range 3 {
		at = t0.Add(time.Duration(i) * time.Second)
		st := healthy(at, 50)
		mod(st)
		step(e, statusIn(st))
	}
	if p := e.Phase("b1"); p != PhaseInventory {
		t.Fatalf("phase after 3 failed polls = %v, want inventory", p)
	}
	return at
}

func TestEngineFenceNotConfirmedLeavesVMsAndAlertsEach(t *testing.T) {
	e := newEngine(t, nil)
	now := detect(t, e, func(s *rack.Status) { s.Health.Power = bmc.PowerOff })
	var got []string
	got = append(got, kinds(step(e, Input{Kind: InputInventory, Time: now, Server: "b1", Images: images(2), CanEvacuate: true}))...)
	for range 3 {
		got = append(got, kinds(step(e, Input{Kind: InputFenced, Time: now, Server: "b1", Err: fmt.Errorf("lost answer: %w", bmc.ErrIndeterminate)}))...)
		now = now.Add(5 * time.Second)
		got = append(got, kinds(step(e, Input{Kind: InputTick, Time: now}))...)
	}
	want := []string{"fence", "notify:alert", "fence", "notify:alert", "fence", "notify:alert:vm0", "notify:alert:vm1", "notify:alert"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
	if p := e.Phase("b1"); p != PhaseStuck {
		t.Errorf("phase = %v, want stuck", p)
	}
}

func TestEngineCapacityInPriorityOrder(t *testing.T) {
	e := newEngine(t, nil)
	now := detect(t, e, func(s *rack.Status) { s.Health.Power = bmc.PowerOff })
	got := kinds(step(e, Input{Kind: InputInventory, Time: now, Server: "b1", Images: images(3),
		Free: hypervisor.Capacity{MemoryMiB: 2048, CPUs: 8}, FreeKnown: true}))
	got = append(got, kinds(step(e, Input{Kind: InputFenced, Time: now, Server: "b1"}))...)
	want := []string{"notify:alert:vm2", "fence", "notify:fenced", "start-backup:vm0", "start-backup:vm1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}

func TestEngineEvacuationDeadlineFallsBackToFence(t *testing.T) {
	e := newEngine(t, nil)
	now := detect(t, e, func(s *rack.Status) { s.Readings[0].Value = 99 })
	step(e, Input{Kind: InputInventory, Time: now, Server: "b1", Images: images(2), CanEvacuate: true})
	ok := images(2)[0]
	ok.Checkpoint, ok.Generation = "ckpt", 2
	var got []string
	got = append(got, kinds(step(e, Input{Kind: InputCheckpointed, Time: now, Server: "b1", Image: ok}))...)
	got = append(got, kinds(step(e, Input{Kind: InputStarted, Time: now, Server: "b1", Image: ok}))...)
	got = append(got, kinds(step(e, Input{Kind: InputTick, Time: now.Add(3 * time.Minute)}))...)
	got = append(got, kinds(step(e, Input{Kind: InputCheckpointed, Time: now.Add(3 * time.Minute), Server: "b1", Image: images(2)[1], Err: errors.New("late")}))...)
	got = append(got, kinds(step(e, Input{Kind: InputFenced, Time: now.Add(3 * time.Minute), Server: "b1"}))...)
	got = append(got, kinds(step(e, Input{Kind: InputStarted, Time: now.Add(3 * time.Minute), Server: "b1", Image: images(2)[1]}))...)
	want := []string{
		"notify:evacuated:vm0", "start-backup:vm0", "notify:backup-started:vm0",
		"notify:alert", "fence",
		"notify:fenced", "start-backup:vm1",
		"notify:backup-started:vm1", "restart:on",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}

func TestEngineReplaysExactly(t *testing.T) {
	run := func() []Action {
		e := newEngine(t, nil)
		var all []Action
		for i := range 4 {
			st := healthy(t0.Add(time.Duration(i)*time.Second), 50)
			st.Health.Power = bmc.PowerOff
			all = append(all, step(e, statusIn(st))...)
		}
		all = append(all, step(e, Input{Kind: InputInventory, Time: t0, Server: "b1", Images: images(5)})...)
		all = append(all, step(e, Input{Kind: InputFenced, Time: t0, Server: "b1"})...)
		return all
	}
	if d := cmp.Diff(run(), run()); d != "" {
		t.Errorf("two runs differ:\n%s", d)
	}
}

func TestPolicyValidateNamesField(t *testing.T) {
	p := DefaultPolicy()
	p.Hysteresis = 1.5
	if err := p.Validate(); !errors.Is(err, ErrInvalidPolicy) || !contains(err.Error(), "Policy.Hysteresis 1.5") {
		t.Errorf("Validate = %v, want ErrInvalidPolicy naming Policy.Hysteresis", err)
	}
	p = DefaultPolicy()
	p.Overrides = map[string]sensor.Thresholds{"x": {UpperCritical: sensor.At(nan())}}
	if err := p.Validate(); !errors.Is(err, ErrInvalidPolicy) || !contains(err.Error(), `Overrides["x"]`) {
		t.Errorf("Validate = %v, want ErrInvalidPolicy naming Overrides[\"x\"]", err)
	}
	if err := DefaultPolicy().Validate(); err != nil {
		t.Errorf("DefaultPolicy().Validate() = %v", err)
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
	e := newEngine(t, nil)
	now := detect(t, e, func(s *rack.Status) { s.Health.Power = bmc.PowerOff })
	imgs := images(2)
	var got []string
	got = append(got, kinds(step(e, Input{Kind: InputInventory, Time: now, Server: "b1", Images: imgs}))...)
	got = append(got, kinds(step(e, Input{Kind: InputFenced, Time: now, Server: "b1"}))...)
	got = append(got, kinds(step(e, Input{Kind: InputStarted, Time: now, Server: "b1", Image: imgs[0], Err: fmt.Errorf("vCenter still sees the old copy: %w", hypervisor.ErrNameTaken)}))...)
	got = append(got, kinds(step(e, Input{Kind: InputStarted, Time: now, Server: "b1", Image: imgs[1], Err: fmt.Errorf("broken XML: %w", hypervisor.ErrBadImage)}))...)
	got = append(got, kinds(step(e, Input{Kind: InputTick, Time: now.Add(time.Second)}))...) // not yet
	got = append(got, kinds(step(e, Input{Kind: InputTick, Time: now.Add(5 * time.Second)}))...)
	got = append(got, kinds(step(e, Input{Kind: InputStarted, Time: now.Add(5 * time.Second), Server: "b1", Image: imgs[0]}))...)
	want := []string{
		"fence", "notify:fenced", "start-backup:vm0", "start-backup:vm1",
		"notify:alert:vm0", // attempt 1 failed, retrying
		"notify:alert:vm1", // bad image: given up at once
		"start-backup:vm0",
		"notify:backup-started:vm0", "restart:on",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}
