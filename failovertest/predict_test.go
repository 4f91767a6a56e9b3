package failovertest

import (
	"flag"
	"testing"

	"github.com/rackha/failover"
)

var predictTable = flag.Bool("predict-table", false, "print the predictive evacuation tables of TestPredictTraces and TestPredictHeldOut")

// TestPredictTraces: with the default policy, every failing trace is
// evacuated by prediction before it crosses its threshold, no
// prediction ever fences, and no healthy trace of the tuning set is
// evacuated.
func TestPredictTraces(t *testing.T) {
	skipUnderRace(t)
	judgeTraces(t, append(FailingTraces(), HealthyTraces(false)...))
}

// TestPredictHeldOut judges the held-out healthy traces (written after
// the defaults were tuned) the same way.
func TestPredictHeldOut(t *testing.T) {
	skipUnderRace(t)
	judgeTraces(t, HealthyTraces(true))
}

// skipUnderRace: the harness runs no goroutines, and the race detector
// makes its 60 000 records ten times slower; TestPredictTracesOff keeps
// one trace under it.
func skipUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("single goroutine; run without -race")
	}
}

func judgeTraces(t *testing.T, traces []Trace) {
	var evs []Evaluation
	for _, tr := range traces {
		v, err := Evaluate(tr, failover.DefaultPolicy())
		if err != nil {
			t.Fatalf("%s: %v", tr.Name, err)
		}
		evs = append(evs, v)
		switch {
		case v.Fenced:
			t.Errorf("%s: a predicted takeover asked for a fence", tr.Name)
		case v.FalseEvacuations > 0:
			t.Errorf("%s: %d false evacuations", tr.Name, v.FalseEvacuations)
		case tr.Failing && v.Crossing < 0:
			t.Errorf("%s: the failing trace never crosses its threshold", tr.Name)
		case tr.Failing && (v.Evacuating < 0 || v.Evacuating >= v.Crossing):
			t.Errorf("%s: evacuation at %v, threshold crossed at %v", tr.Name, v.Evacuating, v.Crossing)
		case tr.Failing && v.Threshold < v.Crossing:
			t.Errorf("%s: threshold-only detection at %v before the crossing at %v", tr.Name, v.Threshold, v.Crossing)
		}
	}
	if *predictTable || t.Failed() {
		t.Logf("\n%s", EvaluationTable(evs))
	}
}

// TestPredictTracesOff: with a lead nothing meets and the ECC count off,
// nothing is predicted and the failures are found by threshold only:
// the harness tells the two apart.
func TestPredictTracesOff(t *testing.T) {
	p := failover.DefaultPolicy()
	p.PredictLead, p.PredictECCLimit = 1, 0
	traces := FailingTraces()
	if raceEnabled {
		traces = traces[:1]
	}
	for _, tr := range traces {
		v, err := Evaluate(tr, p)
		if err != nil {
			t.Fatal(err)
		}
		if v.Predicted >= 0 {
			t.Errorf("%s: predicted at %v with a 1 ns lead", tr.Name, v.Predicted)
		}
		if v.Threshold < 0 {
			t.Errorf("%s: never detected by threshold", tr.Name)
		}
	}
}
