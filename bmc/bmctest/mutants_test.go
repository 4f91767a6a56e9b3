package bmctest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/bmctest"
	"github.com/rackha/failover/bmc/simbmc"
)

// mutant is simbmc's power role with one deliberate bug.
type mutant struct {
	*simbmc.BMC
	bug string
}

func (m *mutant) SetPower(ctx context.Context, a bmc.PowerAction) error {
	st, err := m.BMC.PowerState(ctx)
	switch {
	case m.bug == "OffSkippedWhenReadsOff" && a == bmc.PowerActionOff && err == nil && st == bmc.PowerOff:
		return nil // "already off": nothing sent, confirmed by the same reading
	case m.bug == "OffIgnored" && a == bmc.PowerActionOff:
		return nil
	case m.bug == "OffWhenOffFails" && a == bmc.PowerActionOff && err == nil && st == bmc.PowerOff:
		return errors.New("already off")
	case m.bug == "CycleLeavesOff" && a == bmc.PowerActionCycle:
		return m.BMC.SetPower(ctx, bmc.PowerActionOff)
	case m.bug == "UnknownActionIsOff" && (a < bmc.PowerActionOff || a > bmc.PowerActionCycle):
		return m.BMC.SetPower(ctx, bmc.PowerActionOff)
	case m.bug == "UnreachablePlainError" && err != nil:
		return errors.New("timeout")
	}
	return m.BMC.SetPower(ctx, a)
}

func (m *mutant) staleOff() error { m.BMC.ReportStalePower(bmc.PowerOff); return nil }

func (m *mutant) hostPower() (bmc.PowerState, error) { return m.BMC.HostPower(), nil }

var mutants = map[string]string{
	"OffIgnored":             "OffReadsBackOff",
	"OffWhenOffFails":        "OffWhenOffIsSuccess",
	"OffSkippedWhenReadsOff": "FenceSentWhenReadsOff",
	"CycleLeavesOff":         "CycleEndsOn",
	"UnknownActionIsOff":     "UnknownActionRefused",
	"UnreachablePlainError":  "UnreachableWrapsErrUnreachable",
}

// TestSuiteCatchesMutants runs the suite, in a child process, against BMCs
// with one bug each and checks that the named subtest fails.
func TestSuiteCatchesMutants(t *testing.T) {
	if bug := os.Getenv("BMCTEST_MUTANT"); bug != "" {
		newMutant := func(t *testing.T) *mutant {
			b, err := simbmc.New(simbmc.DefaultConfig("a"))
			if err != nil {
				t.Fatal(err)
			}
			return &mutant{BMC: b, bug: bug}
		}
		t.Run(bug, func(t *testing.T) {
			bmctest.Run(t, bmctest.Harness{
				Open: func(t *testing.T) bmctest.Fixture {
					m := newMutant(t)
					return bmctest.Fixture{Power: m, Health: m, ReportStaleOff: m.staleOff, HostPower: m.hostPower}
				},
				Unreachable: func(t *testing.T) bmc.Power {
					m := newMutant(t)
					m.SetUnreachable(true)
					return m
				},
			})
		})
		return
	}
	for bug, want := range mutants {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesMutants$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "BMCTEST_MUTANT="+bug)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("the suite passed a BMC with bug %s", bug)
		}
		if line := "--- FAIL: TestSuiteCatchesMutants/" + bug + "/" + want + " "; !strings.Contains(string(out), line) {
			t.Errorf("bug %s: subtest %s did not fail; output:\n%s", bug, want, out)
		}
	}
}
