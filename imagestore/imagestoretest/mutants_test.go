package imagestoretest_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/imagestoretest"
	"github.com/rackha/failover/imagestore/memstore"
)

// mutant is a store with one deliberate bug.
type mutant struct {
	*memstore.Store
	bug string
}

func (m *mutant) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	if m.bug == "DropsNewFields" {
		img.CheckpointGeneration, img.PreviousOwner = 0, ""
	}
	if m.bug == "NoCAS" {
		if cur, err := m.Store.Get(ctx, img.Name); err == nil {
			img.Generation = cur.Generation
		}
	}
	return m.Store.Put(ctx, img)
}

func (m *mutant) List(ctx context.Context) ([]imagestore.Image, error) {
	out, err := m.Store.List(ctx)
	if m.bug == "UnsortedList" {
		slices.Reverse(out)
	}
	return out, err
}

// shared hands out the same slices every time. The suite calls Get from
// several goroutines, so mu guards defs: the bug under test is the shared
// slice, not a data race of the mutant's own.
type shared struct {
	imagestore.Store
	mu   sync.Mutex
	defs map[string][]byte
}

func (s *shared) Get(ctx context.Context, name string) (imagestore.Image, error) {
	img, err := s.Store.Get(ctx, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.defs[name]; ok {
		img.Definition = d
	} else {
		s.defs[name] = img.Definition
	}
	return img, err
}

// mutants maps each mutant to a subtest that must catch it.
var mutants = map[string]string{
	"NoCAS":        "ClaimOneWinner",
	"UnsortedList": "ListSortedByName",
	"SharedSlices": "ReturnsDeepCopies",
	// A store that forgets the fields added with checkpoint generations.
	"DropsNewFields": "RoundTripExact",
}

func open(bug string) func(*testing.T) imagestore.Store {
	return func(*testing.T) imagestore.Store {
		if bug == "SharedSlices" {
			return &shared{Store: memstore.New(), defs: map[string][]byte{}}
		}
		return &mutant{Store: memstore.New(), bug: bug}
	}
}

// TestSuiteCatchesMutants runs the suite, in a child process, against
// stores with one bug each and checks that the named subtest fails.
func TestSuiteCatchesMutants(t *testing.T) {
	if bug := os.Getenv("IMAGESTORETEST_MUTANT"); bug != "" {
		t.Run(bug, func(t *testing.T) { imagestoretest.Run(t, imagestoretest.Harness{Open: open(bug)}) })
		return
	}
	for bug, want := range mutants {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteCatchesMutants$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "IMAGESTORETEST_MUTANT="+bug)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("the suite passed a store with bug %s", bug)
		}
		if line := "--- FAIL: TestSuiteCatchesMutants/" + bug + "/" + want + " "; !strings.Contains(string(out), line) {
			t.Errorf("bug %s: subtest %s did not fail; output:\n%s", bug, want, out)
		}
		// The suite must catch the bug itself, not a crash or a race of
		// the mutant's own making.
		for _, crash := range []string{"fatal error:", "WARNING: DATA RACE", "panic:"} {
			if strings.Contains(string(out), crash) {
				t.Errorf("bug %s: the child reported %q; output:\n%s", bug, crash, out)
			}
		}
	}
}
