package failover

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
)

// fanFailure is CPU Temp of a server steady at 50 °C whose fan stops
// at fanOnset: from 50 °C toward 110 °C with a time constant of 150 s;
// it reaches the critical 90 °C 150·ln 3 ≈ 165 s later.
func fanFailure(s int) *rack.Status { return fanFailureAt(fanOnset, s) }

// fanFailureAt is fanFailure with the fan stopping at second onset.
func fanFailureAt(onset, s int) *rack.Status {
	v := 50.0
	if s >= onset {
		v = math.Round((110-60*math.Exp(-float64(s-onset)/150))*2) / 2
	}
	return healthy(t0.Add(time.Duration(s)*time.Second), v)
}

// fanOnset is past the default PredictReversal: the sensor has been
// followed long enough for the whole PredictLead to apply.
const (
	fanOnset    = 600
	fanCrossing = (fanOnset + 165) * time.Second
)

// feedUntil feeds statuses of second 0, 1, ... until an action of kind
// comes, and returns that second (or -1 after limit seconds).
func feedUntil(d *driver, st func(int) *rack.Status, limit int, stop func(Action) bool) int {
	for s := range limit {
		for _, a := range d.status(st(s)) {
			if stop(a) {
				return s
			}
		}
	}
	return -1
}

func isDetected(a Action) bool { return a.Kind == ActionNotify && a.Event.Type == EventDetected }

func TestPredictEvacuatesFanFailureBeforeCrossing(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(2)
	s := feedUntil(d, fanFailure, 900, isDetected)
	if s < 0 {
		t.Fatal("no detection")
	}
	ev := d.all[len(d.all)-2].Event // the detected event, then the inventory
	if !isDetected(d.all[len(d.all)-2]) {
		ev = d.all[len(d.all)-1].Event
	}
	at := time.Duration(s) * time.Second
	if !ev.Predicted || ev.Cause != CauseTemperature || ev.Sensor != "CPU Temp" || ev.Threshold != 90 || ev.Rate <= 0 ||
		ev.Crossing.Before(ev.Time) || at >= fanCrossing {
		t.Fatalf("detected at %v (crossing at %v): %+v", at, fanCrossing, ev)
	}
	t.Logf("predicted at %v, %v before the crossing: %v", at, fanCrossing-at, ev)
	d.answer(ActionInventory, "b1", func(in *Input) { in.CanEvacuate = true })
	if d.e.Phase("b1") != PhaseEvacuating {
		t.Fatalf("phase %v, want evacuating", d.e.Phase("b1"))
	}
	d.answer(ActionCheckpoint, "vm0", nil)
	d.fail(ActionCheckpoint, "vm1", errors.New("save failed"))
	d.takeOver("vm0")
	d.images["b1"] = images(2)[1:] // vm0 is the watcher's now
	d.answer(ActionInventory, "b1", nil)
	var left, final bool
	for _, a := range d.all {
		switch {
		case a.Kind == ActionFence || a.Kind == ActionRestart:
			t.Fatalf("a prediction asked for %v", a.Kind)
		case a.Kind == ActionNotify && a.Event.Type == EventAlert && a.Event.VM == "vm1" && strings.Contains(a.Event.Message, "never fences"):
			left = true
		case a.Kind == ActionNotify && a.Event.Type == EventAlert && a.Event.Predicted:
			final = strings.Contains(a.Event.Message, "1 of 2 VMs moved")
		}
	}
	if !left || !final || d.e.Phase("b1") != PhaseWatching {
		t.Fatalf("left %v, final %v, phase %v; events:\n%s", left, final, d.e.Phase("b1"), notes(d.all))
	}
	// Latched: the same trend does not evacuate again; the crossing is
	// then detected by threshold, as ever, and that one fences.
	n := len(d.all)
	s = feedUntil(d, func(i int) *rack.Status { return fanFailure(s + 1 + i) }, 120, isDetected)
	if s < 0 || d.all[len(d.all)-2].Event.Predicted || d.all[len(d.all)-2].Event.Cause != CauseTemperature {
		t.Fatalf("after the predicted evacuation: %s", notes(d.all[n:]))
	}
}

// fan feeds the statuses of fanFailure, one a second from t=0 until the
// time given, and shows what the engine answered.
func (tr *transcript) fan(t *testing.T, td *datadriven.TestData) string {
	until := dur(t, str(td, "until", "1m"))
	var out []string
	for s := 0; time.Duration(s)*time.Second <= until; s++ {
		st := fanFailure(s)
		st.Server = positional(td, 0)
		if o := tr.show(tr.d.status(st)); o != "" {
			tv := fmt.Sprintf("t=%ds (%.1fC): ", s, st.Readings[0].Value)
			out = append(out, tv+strings.ReplaceAll(o, "\n", "\n"+tv))
		}
	}
	return strings.Join(out, "\n")
}

func notes(as []Action) string {
	var b strings.Builder
	for _, a := range as {
		if a.Kind == ActionNotify {
			b.WriteString(a.Event.String() + "\n")
		} else {
			b.WriteString(a.Kind.String() + "\n")
		}
	}
	return b.String()
}

func TestPredictWithoutEvacuationOnlyAlerts(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Policy)
		can  bool
		want string
	}{
		{"no checkpoint", nil, false, "cannot checkpoint"},
		{"evacuate off", func(p *Policy) { p.Evacuate = false }, true, "evacuation is off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, tc.mod)
			d.images["b1"] = images(2)
			if feedUntil(d, fanFailure, 900, isDetected) < 0 {
				t.Fatal("no detection")
			}
			d.answer(ActionInventory, "b1", func(in *Input) { in.CanEvacuate = tc.can })
			last := d.all[len(d.all)-1]
			if last.Kind != ActionNotify || !last.Event.Predicted || !strings.Contains(last.Event.Message, tc.want) ||
				len(last.Event.VMs) != 2 || d.e.Phase("b1") != PhaseWatching || len(d.open) != 0 {
				t.Fatalf("phase %v, open %d; events:\n%s", d.e.Phase("b1"), len(d.open), notes(d.all))
			}
		})
	}
}

// TestPredictYoungTrendLeadCut: a slow fan failure (time constant
// 10 min, crossing 90 °C at 659 s) that starts as the engine starts is
// predicted only once its time to the threshold is within the lead cut
// in proportion to the time the sensor was followed, and before the
// crossing.
func TestPredictYoungTrendLeadCut(t *testing.T) {
	d := newDriver(t, nil)
	slow := func(s int) *rack.Status {
		return healthy(t0.Add(time.Duration(s)*time.Second), math.Round((110-60*math.Exp(-float64(s)/600))*2)/2)
	}
	s := feedUntil(d, slow, 900, isDetected)
	if s < 0 {
		t.Fatal("no detection")
	}
	ev := d.all[len(d.all)-2].Event
	followed := time.Duration(s) * time.Second
	lead := time.Duration(float64(d.e.p.PredictLead) * followed.Seconds() / d.e.p.PredictReversal.Seconds())
	if !ev.Predicted || ev.Crossing.Sub(ev.Time) > lead || s >= 659 {
		t.Fatalf("detected at %ds, predicted crossing in %v, lead after %v followed %v: %+v", s, ev.Crossing.Sub(ev.Time), followed, lead, ev)
	}
	t.Logf("detected at %ds, predicted crossing in %v (lead %v)", s, ev.Crossing.Sub(ev.Time), lead)
}

// walkSeeds are random walks of a healthy sensor (see randomWalk) that
// were evacuated before the lead was cut for young trends: each climbed
// steadily within its first 7 minutes, like a fan failure does.
var walkSeeds = []uint64{2669, 5131, 10474, 12209, 15294, 16581, 17028, 25775}

// randomWalk is a healthy CPU temperature wandering at random, as a
// varying load makes it: each second by up to ±0.5 °C within 45-75 °C
// (critical 90), read with noise (σ 0.3 °C) in steps of 0.5 °C.
func randomWalk(seed uint64) func(int) *rack.Status {
	rng := rand.New(rand.NewPCG(seed, 3))
	v := 55.0
	return func(s int) *rack.Status {
		v = min(max(v+(rng.Float64()-0.5), 45), 75)
		return healthy(t0.Add(time.Duration(s)*time.Second), math.Round((v+rng.NormFloat64()*0.3)/0.5)*0.5)
	}
}

// TestPredictRandomWalk: no random walk of a healthy sensor is
// evacuated over 20 minutes: neither the walks once evacuated nor, with
// -short off and without -race, 3000 more.
func TestPredictRandomWalk(t *testing.T) {
	seeds := walkSeeds
	if !testing.Short() && !raceEnabled {
		for i := range uint64(3000) {
			seeds = append(seeds, 100000+i)
		}
	}
	for _, seed := range seeds {
		d := newDriver(t, nil)
		d.images["b1"] = images(1)
		if s := feedUntil(d, randomWalk(seed), 1200, isDetected); s >= 0 {
			t.Fatalf("walk %d evacuated at %ds: %s", seed, s, notes(d.all))
		}
	}
}

func TestPredictOffDetectsAtThreshold(t *testing.T) {
	d := newDriver(t, func(p *Policy) { p.Predict = false })
	s := feedUntil(d, fanFailure, 900, isDetected)
	if at := time.Duration(s) * time.Second; at < fanCrossing || d.all[len(d.all)-2].Event.Predicted {
		t.Fatalf("detected at %v, crossing %v: %s", at, fanCrossing, notes(d.all))
	}
}

// TestPredictHealthyRiseLevelsOff: a load step that levels off below the
// threshold (time constant 25 s, to 85 °C with critical 90) is not
// evacuated, though its first minute points at 90 °C within the lead.
func TestPredictHealthyRiseLevelsOff(t *testing.T) {
	d := newDriver(t, nil)
	rise := func(s int) *rack.Status {
		return healthy(t0.Add(time.Duration(s)*time.Second), math.Round((85-35*math.Exp(-float64(max(s-120, 0))/25))*2)/2)
	}
	if s := feedUntil(d, rise, 900, isDetected); s >= 0 {
		t.Fatalf("detected at %ds: %s", s, notes(d.all))
	}
}

func TestPredictCorrectableECC(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(1)
	ecc := func(s int) *rack.Status {
		st := healthy(t0.Add(time.Duration(s)*time.Second), 50)
		if s%10 == 0 {
			st.Health.Events = []bmc.Event{{Source: "DIMM A1", Message: "correctable ECC asserted", Kind: bmc.EventCorrectableECC},
				{Source: "PSU", Message: "other"}}
		}
		return st
	}
	s := feedUntil(d, ecc, 600, isDetected)
	ev := d.all[len(d.all)-2].Event
	// The 21st error (more than 20 within 10 min) comes at 200 s.
	if s != 200 || !ev.Predicted || ev.Cause != CauseCorrectableECC || ev.Value != 21 || ev.Rate <= 0 {
		t.Fatalf("detected at %ds: %+v", s, ev)
	}
	// Errors spread thinner than the limit never evacuate.
	d = newDriver(t, nil)
	sparse := func(s int) *rack.Status {
		st := ecc(s)
		if s%40 != 0 {
			st.Health.Events = nil
		}
		return st
	}
	if s := feedUntil(d, sparse, 3600, isDetected); s >= 0 {
		t.Fatalf("sparse errors detected at %ds", s)
	}
}

func TestPredictPolicyValidate(t *testing.T) {
	for field, mod := range map[string]func(*Policy){
		"PredictWindow":                 func(p *Policy) { p.PredictWindow = 20 },
		"PredictLead":                   func(p *Policy) { p.PredictLead = 0 },
		"PredictMinRate":                func(p *Policy) { p.PredictMinRate = math.NaN() },
		"PredictDwell":                  func(p *Policy) { p.PredictDwell = -1 },
		"PredictECCLimit":               func(p *Policy) { p.PredictECCLimit = -1 },
		"PredictECCWindow":              func(p *Policy) { p.PredictECCWindow = 0 },
		`PredictSensors["CPU"].MinRate`: func(p *Policy) { p.PredictSensors = map[string]PredictRule{"CPU": {MinRate: -1}} },
		`PredictSensors["CPU"].Lead`:    func(p *Policy) { p.PredictSensors = map[string]PredictRule{"CPU": {Lead: -1}} },
	} {
		p := DefaultPolicy()
		mod(&p)
		err := p.Validate()
		if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), "Policy."+field+" ") {
			t.Errorf("%s: %v", field, err)
		}
	}
	p := DefaultPolicy()
	p.Predict, p.PredictWindow = false, 0
	if err := p.Validate(); err != nil {
		t.Errorf("prediction off: %v", err)
	}
}

func TestPredictSensorOff(t *testing.T) {
	d := newDriver(t, func(p *Policy) { p.PredictSensors = map[string]PredictRule{"CPU Temp": {Off: true}} })
	if s := feedUntil(d, fanFailure, 900, isDetected); time.Duration(s)*time.Second < fanCrossing || d.all[len(d.all)-2].Event.Predicted {
		t.Fatalf("detected at %ds with prediction off for the sensor", s)
	}
}

func TestPredictEventJSON(t *testing.T) {
	ev := Event{Time: t0, Type: EventDetected, Server: "b1", Cause: CauseTemperature, Sensor: "CPU Temp", Value: 80, Unit: "C",
		Threshold: 90, Predicted: true, Rate: 6, Crossing: t0.Add(100 * time.Second)}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `"predicted":true,"rate":6,"crossing":"2026-11-28T12:01:40Z"`
	if !strings.Contains(string(b), want) {
		t.Fatalf("%s: want %s", b, want)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || !back.Crossing.Equal(ev.Crossing) || back.Rate != 6 || !back.Predicted {
		t.Fatalf("%+v %v", back, err)
	}
	ev.Predicted, ev.Rate, ev.Crossing = false, 0, time.Time{}
	b, _ = json.Marshal(ev)
	if strings.Contains(string(b), "predicted") || strings.Contains(string(b), "rate") || strings.Contains(string(b), "crossing") {
		t.Fatalf("unpredicted event carries prediction keys: %s", b)
	}
}

// BenchmarkPredictStatus is the engine's cost per status report with
// prediction on (the default), 32 sensors whose values move;
// BenchmarkPredictStatusOff the same with Predict off.
// BenchmarkPredictStatusMoving the worst case: every sensor moves toward
// its threshold (a sawtooth, 2 °C or 0.05 V a minute), so every block
// gets the full forecast; a 1 ns lead keeps it from ever being due.
func BenchmarkPredictStatus(b *testing.B)       { benchPredict(b, true, false) }
func BenchmarkPredictStatusOff(b *testing.B)    { benchPredict(b, false, false) }
func BenchmarkPredictStatusMoving(b *testing.B) { benchPredict(b, true, true) }

func benchPredict(b *testing.B, on, moving bool) {
	p := DefaultPolicy()
	p.Predict = on
	if moving {
		p.PredictLead, p.PredictReversal = 1, 0 // never due; the sawtooth's drops do not count as swings
	}
	e, _ := NewEngine("b2", p)
	st := healthy(t0, 50)
	base := st.Readings
	st.Readings = nil
	for i := range 16 {
		st.Readings = append(st.Readings, base...)
		st.Readings[2*i].Name = "T" + string(rune('a'+i))
		st.Readings[2*i+1].Name = "V" + string(rune('a'+i))
	}
	in := statusIn(st)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		in.Time = in.Time.Add(time.Second)
		for j := range st.Readings {
			switch {
			case moving && j%2 == 0:
				st.Readings[j].Value = 50 + float64(i%600)/30
			case moving:
				st.Readings[j].Value = 12.5 - float64(i%600)/600
			case j%2 == 0:
				st.Readings[j].Value = 50 + float64(i%7)*0.5
			default:
				st.Readings[j].Value = 12 + float64(i%5)*0.02
			}
		}
		if len(e.Step(in)) != 0 {
			b.Fatal("healthy status produced actions")
		}
	}
}

func TestPredictMedian(t *testing.T) {
	for n := 1; n <= 40; n++ {
		for seed := range 20 {
			v := make([]float64, n)
			x := uint64(seed*7919 + n)
			for i := range v {
				x = x*6364136223846793005 + 1442695040888963407
				v[i] = float64(x>>58) - 16 // repeats on purpose
			}
			s := append([]float64(nil), v...)
			sort.Float64s(s)
			want := s[n/2]
			if n%2 == 0 {
				want = (s[n/2-1] + s[n/2]) / 2
			}
			if got := median(v); got != want {
				t.Fatalf("median of %v = %v, want %v", s, got, want)
			}
		}
	}
}

// TestPredictOneTakeoverForSeveralSensors: two CPUs on course together
// give one predicted takeover; the second does not start another once
// the first has ended, and the crossing is then detected by threshold.
func TestPredictOneTakeoverForSeveralSensors(t *testing.T) {
	d := newDriver(t, nil)
	d.images["b1"] = images(1)
	two := func(s int) *rack.Status {
		st := fanFailure(s)
		cpu1 := st.Readings[0]
		cpu1.Name = "CPU1 Temp"
		st.Readings = append(st.Readings, cpu1)
		return st
	}
	s := feedUntil(d, two, 900, isDetected)
	if s < 0 || !d.all[len(d.all)-2].Event.Predicted {
		t.Fatalf("no predicted detection: %s", notes(d.all))
	}
	d.answer(ActionInventory, "b1", nil) // cannot evacuate: alert, watching again
	n := len(d.all)
	next := feedUntil(d, func(i int) *rack.Status { return two(s + 1 + i) }, 120, isDetected)
	if next < 0 || d.all[len(d.all)-2].Event.Predicted {
		t.Fatalf("after the first predicted takeover: %s", notes(d.all[n:]))
	}
}

// TestPredictBoundsSensors: a BMC naming its sensors anew at each poll
// does not grow the engine past maxTrends per server.
func TestPredictBoundsSensors(t *testing.T) {
	d := newDriver(t, nil)
	for s := range 2 * maxTrends {
		st := healthy(t0.Add(time.Duration(s)*time.Second), 50)
		st.Readings[0].Name = fmt.Sprintf("T%d", s)
		d.status(st)
	}
	if n := len(d.e.peers["b1"].pred.trends); n != maxTrends {
		t.Fatalf("%d trends, want %d", n, maxTrends)
	}
}
