package hypervisortest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/hypervisortest"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
)

// mutant is memhv with one deliberate bug.
type mutant struct {
	*memhv.Hypervisor
	bug string
}

func (m *mutant) Start(ctx context.Context, img imagestore.Image) error {
	if m.bug == "ResumeAnyGeneration" && img.Checkpoint != "" {
		img.CheckpointGeneration = img.Generation - 1 // skips the check
	}
	err := m.Hypervisor.Start(ctx, img)
	if m.bug == "StartTwiceSucceeds" && errors.Is(err, hypervisor.ErrAlreadyRunning) {
		return nil
	}
	if c, ok := m.Storage().Checkpoint(img.Checkpoint); m.bug == "ResumeTwice" && ok && c.ResumedOn != "" && errors.Is(err, hypervisor.ErrBadImage) {
		// Forgets that the checkpoint was used: runs its memory again.
		img.Checkpoint, img.Definition, img.MemoryMiB, img.CPUs = "", c.Definition, c.MemoryMiB, c.CPUs
		return m.Hypervisor.Start(ctx, img)
	}
	return err
}

func (m *mutant) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	st, err := m.Hypervisor.State(ctx, name)
	if m.bug == "UnknownIsStopped" && errors.Is(err, hypervisor.ErrNotFound) {
		return hypervisor.StateStopped, nil
	}
	return st, err
}

func (m *mutant) Checkpoint(ctx context.Context, name string) (string, error) {
	ref, err := m.Hypervisor.Checkpoint(ctx, name)
	if m.bug == "CheckpointKeepsRunning" && err == nil {
		m.Hypervisor.Start(ctx, imagestore.Image{Name: name, Owner: "x", Definition: []byte("x"), MemoryMiB: 1024, CPUs: 2})
	}
	return ref, err
}

var mutants = map[string]string{
	"StartTwiceSucceeds":     "StartTwiceIsAlreadyRunning",
	"UnknownIsStopped":       "StateUnknownIsNotFound",
	"CheckpointKeepsRunning": "Checkpoint",
	"ResumeAnyGeneration":    "ResumeOnlyAtNextGeneration",
	"ResumeTwice":            "ResumeOnce",
}

func image(name string) imagestore.Image {
	return imagestore.Image{Name: name, Owner: "a", Generation: 1, Definition: []byte("<vm/>"), MemoryMiB: 1024, CPUs: 2}
}

// TestSuiteCatchesMutants runs the suite, in a child process, against
// hypervisors with one bug each and checks that the named subtest fails.
func TestSuiteCatchesMutants(t *testing.T) {
	if bug := os.Getenv("HYPERVISORTEST_MUTANT"); bug != "" {
		t.Run(bug, func(t *testing.T) {
			hypervisortest.Run(t, hypervisortest.Harness{Open: func(t *testing.T) hypervisortest.Fixture {
				h, err := memhv.New(memhv.DefaultConfig("a"))
				if err != nil {
					t.Fatal(err)
				}
				return hypervisortest.Fixture{HV: &mutant{Hypervisor: h, bug: bug}, NewImage: image}
			}})
		})
		return
	}
	for bug, want := range mutants {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesMutants$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "HYPERVISORTEST_MUTANT="+bug)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("the suite passed a hypervisor with bug %s", bug)
		}
		if line := "--- FAIL: TestSuiteCatchesMutants/" + bug + "/" + want + " "; !strings.Contains(string(out), line) {
			t.Errorf("bug %s: subtest %s did not fail; output:\n%s", bug, want, out)
		}
		// The suite must catch the bug itself, not a crash or a race.
		for _, crash := range []string{"fatal error:", "WARNING: DATA RACE", "panic:"} {
			if strings.Contains(string(out), crash) {
				t.Errorf("bug %s: the child reported %q; output:\n%s", bug, crash, out)
			}
		}
	}
}
