package watchdogtest_test

import (
	"context"
	"errors"
	"github.com/rackha/failover/clock"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/watchdog"
	"github.com/rackha/failover/watchdog/watchdogtest"
)

// mutant is simbmc's watchdog with one deliberate bug.
type mutant struct {
	*simbmc.BMC
	bug string
}

func (m *mutant) Kick(ctx context.Context) error {
	switch m.bug {
	case "KickIgnored":
		_, err := m.BMC.State(ctx)
		return err
	case "KickBeforeArmOK":
		if err := m.BMC.Kick(ctx); errors.Is(err, watchdog.ErrNotArmed) {
			return nil
		}
	}
	return m.BMC.Kick(ctx)
}

func (m *mutant) State(ctx context.Context) (watchdog.State, error) {
	s, err := m.BMC.State(ctx)
	switch m.bug {
	case "NeverExpires":
		s.Expired = false
	case "RemainingFrozen":
		s.Remaining = s.Timeout
	}
	return s, err
}

func (m *mutant) Arm(ctx context.Context, d time.Duration, a watchdog.Action) error {
	if m.bug == "ZeroTimeoutAccepted" && d <= 0 {
		return nil
	}
	return m.BMC.Arm(ctx, d, a)
}

var mutants = map[string]string{
	"KickIgnored":         "KickingKeepsAlive",
	"KickBeforeArmOK":     "KickBeforeArmIsNotArmed",
	"NeverExpires":        "ExpiresWithoutKicks",
	"RemainingFrozen":     "RemainingCountsDown",
	"ZeroTimeoutAccepted": "InvalidTimeout",
}

// TestSuiteCatchesMutants runs the suite, in a child process, against
// watchdogs with one bug each and checks that the named subtest fails.
func TestSuiteCatchesMutants(t *testing.T) {
	if bug := os.Getenv("WATCHDOGTEST_MUTANT"); bug != "" {
		t.Run(bug, func(t *testing.T) {
			watchdogtest.Run(t, watchdogtest.Harness{
				Open: func(t *testing.T) watchdogtest.Fixture {
					clk := clock.NewManual(time.Unix(1e9, 0))
					cfg := simbmc.DefaultConfig("a")
					cfg.Clock = clk
					b, err := simbmc.New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					return watchdogtest.Fixture{Watchdog: &mutant{BMC: b, bug: bug}, Advance: clk.Advance}
				},
				Unreachable: func(t *testing.T) watchdog.Watchdog {
					b, _ := simbmc.New(simbmc.DefaultConfig("gone"))
					b.SetUnreachable(true)
					return b
				},
				MinTimeout: time.Second,
			})
		})
		return
	}
	for bug, want := range mutants {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesMutants$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "WATCHDOGTEST_MUTANT="+bug)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("the suite passed a watchdog with bug %s", bug)
		}
		if line := "--- FAIL: TestSuiteCatchesMutants/" + bug + "/" + want + " "; !strings.Contains(string(out), line) {
			t.Errorf("bug %s: subtest %s did not fail; output:\n%s", bug, want, out)
		}
	}
}
