package sensortest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/sensor/sensortest"
)

// mutant is simbmc with one deliberate bug.
type mutant struct {
	*simbmc.BMC
	bug    string
	cached []sensor.Reading
}

func (m *mutant) Readings(ctx context.Context) ([]sensor.Reading, error) {
	if m.bug == "UnreachablePlainError" {
		if _, err := m.BMC.Readings(ctx); err != nil {
			return nil, errors.New("timeout")
		}
	}
	if m.bug == "SharedSlice" && m.cached != nil {
		return m.cached, nil
	}
	rs, err := m.BMC.Readings(ctx)
	if err != nil {
		return nil, err
	}
	switch m.bug {
	case "SharedSlice":
		m.cached = rs
	case "ThresholdsSwapped":
		for i := range rs {
			th := &rs[i].Thresholds
			th.UpperCaution, th.UpperCritical = th.UpperCritical, th.UpperCaution
		}
	case "StaleValue":
		rs[0].Value = 12
	}
	return rs, err
}

var mutants = map[string]string{
	"SharedSlice":           "SliceBelongsToCaller",
	"ThresholdsSwapped":     "ThresholdsOrdered",
	"StaleValue":            "SetValueReported",
	"UnreachablePlainError": "UnreachableWrapsErrUnreachable",
}

// TestSuiteCatchesMutants runs the suite, in a child process, against
// sources with one bug each and checks that the named subtest fails.
func TestSuiteCatchesMutants(t *testing.T) {
	if bug := os.Getenv("SENSORTEST_MUTANT"); bug != "" {
		newMutant := func(t *testing.T) (*mutant, *simbmc.BMC) {
			b, err := simbmc.New(simbmc.DefaultConfig("a"))
			if err != nil {
				t.Fatal(err)
			}
			return &mutant{BMC: b, bug: bug}, b
		}
		t.Run(bug, func(t *testing.T) {
			sensortest.Run(t, sensortest.Harness{
				Open: func(t *testing.T) sensortest.Fixture {
					m, b := newMutant(t)
					return sensortest.Fixture{Source: m, SetValue: func(n string, v float64) (float64, error) { return v, b.SetValue(n, v) }}
				},
				Unreachable: func(t *testing.T) sensor.Source {
					m, b := newMutant(t)
					b.SetUnreachable(true)
					return m
				},
			})
		})
		return
	}
	for bug, want := range mutants {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesMutants$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "SENSORTEST_MUTANT="+bug)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("the suite passed a source with bug %s", bug)
		}
		if line := "--- FAIL: TestSuiteCatchesMutants/" + bug + "/" + want + " "; !strings.Contains(string(out), line) {
			t.Errorf("bug %s: subtest %s did not fail; output:\n%s", bug, want, out)
		}
	}
}
