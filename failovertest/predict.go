package failovertest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/telemetry"
)

// Evaluation is how a policy did on one Trace. Times are from the
// trace's start; -1 means never.
type Evaluation struct {
	Trace   string
	Failing bool
	HeldOut bool
	// Crossing: when the failing trace first read past its threshold.
	Crossing time.Duration
	// Threshold: when the policy with Predict off detected the failure.
	Threshold time.Duration
	// Predicted: when the policy detected it by prediction, and
	// Evacuating when the evacuation began (checkpoints asked).
	Predicted  time.Duration
	Evacuating time.Duration
	// FalseEvacuations counts predicted detections of a healthy trace,
	// or of a failing one before its onset.
	FalseEvacuations int
	// Fenced: a predicted takeover asked for a fence (it never may).
	Fenced bool
}

// Lead is how much sooner prediction acted than threshold detection.
func (v Evaluation) Lead() time.Duration {
	if v.Predicted < 0 || v.Threshold < 0 {
		return 0
	}
	return v.Threshold - v.Predicted
}

// Evaluate replays tr through an engine watching its server, once with
// p.Predict off and once with it on. The engine's inventory finds two
// VMs and a hypervisor that checkpoints; checkpoints are answered with
// an error, so a predicted takeover ends (its VMs left in place) and
// the engine goes on watching, and every later prediction counts too.
func Evaluate(tr Trace, p failover.Policy) (Evaluation, error) {
	v := Evaluation{Trace: tr.Name, Failing: tr.Failing, HeldOut: tr.HeldOut,
		Crossing: since(tr.Start, tr.Crossing), Threshold: -1, Predicted: -1, Evacuating: -1}
	sts, err := decodeTrace(tr)
	if err != nil {
		return v, err
	}
	off := p
	off.Predict = false
	err = replayTrace(off, sts, func(a failover.Action) bool {
		if a.Kind == failover.ActionNotify && a.Event.Type == failover.EventDetected {
			v.Threshold = since(tr.Start, a.Event.Time)
			return true
		}
		return false
	})
	if err != nil {
		return v, err
	}
	on := p
	on.Predict = true
	inPredicted := false
	err = replayTrace(on, sts, func(a failover.Action) bool {
		ev := a.Event
		switch {
		case a.Kind == failover.ActionFence && inPredicted:
			v.Fenced = true
		case a.Kind != failover.ActionNotify:
		case ev.Type == failover.EventDetected && ev.Predicted:
			inPredicted = true
			if !tr.Failing || ev.Time.Before(tr.Onset) {
				v.FalseEvacuations++
			} else if v.Predicted < 0 {
				v.Predicted = since(tr.Start, ev.Time)
			}
		case ev.Type == failover.EventDetected:
			return true // threshold detection: prediction is over
		case ev.Type == failover.EventEvacuating && inPredicted && tr.Failing && v.Evacuating < 0 && !ev.Time.Before(tr.Onset):
			v.Evacuating = since(tr.Start, ev.Time)
		case ev.Type == failover.EventAlert && ev.Predicted:
			inPredicted = false // the predicted takeover ended
		}
		return false
	})
	return v, err
}

func since(start, t time.Time) time.Duration {
	if t.IsZero() {
		return -1
	}
	return t.Sub(start)
}

func decodeTrace(tr Trace) ([]rack.Status, error) {
	d := telemetry.NewDecoder(bytes.NewReader(tr.Lines), tr.Name+".jsonl")
	var out []rack.Status
	for {
		st, err := d.NextStatus()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
}

var errNotCarriedOut = errors.New("failovertest: checkpoints are not carried out by the trace harness")

// replayTrace feeds the statuses, a tick after each, and answers the
// engine's actions at once; seen is shown every action and stops the
// replay by returning true.
func replayTrace(p failover.Policy, sts []rack.Status, seen func(failover.Action) bool) error {
	e, err := failover.NewEngine("watcher", p)
	if err != nil {
		return err
	}
	var imgs []imagestore.Image
	for i := range 2 {
		imgs = append(imgs, imagestore.Image{Name: fmt.Sprintf("%s-vm%d", TraceServer, i+1), Owner: TraceServer,
			Generation: 1, Disks: []string{"shared://vm.qcow2"}, MemoryMiB: 1024, CPUs: 1})
	}
	var queue []failover.Input
	step := func(in failover.Input) bool {
		queue = append(queue[:0], in)
		for len(queue) > 0 {
			in := queue[0]
			queue = queue[1:]
			for _, a := range e.Step(in) {
				if seen(a) {
					return true
				}
				ans := failover.Input{ID: a.ID, Time: in.Time}
				switch a.Kind {
				case failover.ActionInventory:
					ans.Kind, ans.Images, ans.CanEvacuate = failover.InputInventory, imgs, true
				case failover.ActionCheckpoint:
					ans.Kind, ans.Err = failover.InputCheckpointed, errNotCarriedOut
				case failover.ActionFence:
					ans.Kind = failover.InputFenced
				default:
					continue // a start or restart: the replay ends at the detection
				}
				queue = append(queue, ans)
			}
		}
		return false
	}
	for i := range sts {
		st := &sts[i]
		if step(failover.Input{Kind: failover.InputStatus, Time: st.Time, Status: st}) ||
			step(failover.Input{Kind: failover.InputTick, Time: st.Time}) {
			return nil
		}
	}
	return nil
}

// EvaluationTable is evs as a table: per trace, when it crossed its
// threshold, when threshold-only and predictive detection acted, the
// lead gained and the false evacuations.
func EvaluationTable(evs []Evaluation) string {
	var b strings.Builder
	sec := func(d time.Duration) string {
		if d < 0 {
			return "-"
		}
		return fmt.Sprintf("%.0fs", d.Seconds())
	}
	fmt.Fprintf(&b, "| trace | set | crossing | threshold-only | predictive (evacuating) | lead gained | false evacuations |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|\n")
	for _, v := range evs {
		set := "failing"
		switch {
		case v.HeldOut:
			set = "healthy, held out"
		case !v.Failing:
			set = "healthy"
		}
		pred := sec(v.Predicted)
		if v.Evacuating >= 0 {
			pred += " (" + sec(v.Evacuating) + ")"
		}
		lead := "-"
		if v.Failing {
			lead = sec(v.Lead())
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d |\n", v.Trace, set, sec(v.Crossing), sec(v.Threshold), pred, lead, v.FalseEvacuations)
	}
	return b.String()
}
