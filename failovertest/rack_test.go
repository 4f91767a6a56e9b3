package failovertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover"
)

// summary lists the events from the first detection or alert on, one
// line each (the VMs' first start by reconcile comes before; what
// watchers journal of the watchdogs is left out).
func summary(evs []failover.Event) []string {
	var out []string
	for i, e := range evs {
		if out == nil && i < len(evs) && e.Type == failover.EventReconciled || e.Type == failover.EventWatchdogSeen {
			continue
		}
		s := fmt.Sprintf("%s %s->%s", e.Type, e.Server, e.Peer)
		if e.Cause != "" {
			s += " " + string(e.Cause)
		}
		if e.VM != "" {
			s += " " + e.VM
		}
		out = append(out, s)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestEachFailureModeTakesOverEveryVM(t *testing.T) {
	cases := []struct {
		fault   FaultKind
		cause   failover.Cause
		evacuee bool
	}{
		{PowerLoss, failover.CauseNoPower, false},
		{BladeFault, failover.CauseBladeFault, false},
		{HangOS, failover.CauseWatchdog, false},
		{VoltageSag, failover.CauseVoltage, true},
		{Overheat, failover.CauseTemperature, true},
	}
	for _, c := range cases {
		t.Run(string(c.fault), func(t *testing.T) {
			ctx := context.Background()
			r, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			r.Run(ctx, 3)
			if err := r.Inject(Fault{Kind: c.fault, Server: "blade-1", For: 2 * time.Second}); err != nil {
				t.Fatal(err)
			}
			r.Run(ctx, 30)
			cause := string(c.cause)
			var want []string
			detectCause := cause
			if c.fault == HangOS {
				detectCause = string(failover.CauseNoPower) // a fast poll sees the power-down first
			}
			want = append(want, "detected blade-1->blade-2 "+detectCause)
			if c.evacuee {
				want = append(want, "evacuating blade-1->blade-2 "+cause)
				for i := 1; i <= 3; i++ {
					want = append(want, fmt.Sprintf("evacuated blade-1->blade-2 %s blade-1-vm%d", cause, i),
						fmt.Sprintf("backup-started blade-1->blade-2 %s blade-1-vm%d", cause, i))
				}
			} else {
				want = append(want, "fenced blade-1->blade-2 "+detectCause)
				for i := 1; i <= 3; i++ {
					want = append(want, fmt.Sprintf("backup-started blade-1->blade-2 %s blade-1-vm%d", cause, i))
				}
			}
			want = append(want, "restarted blade-1->blade-2 "+cause, "recovered blade-1->blade-2 "+cause)
			got := summary(r.Events())
			// VMs start at once, in the seeded order of their completion:
			// the first and last two events are fixed, the rest a set.
			if len(got) != len(want) || got[0] != want[0] || !slices.Equal(got[len(got)-2:], want[len(want)-2:]) {
				t.Fatalf("events:\n%s\nwant (middle in any order):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if d := cmp.Diff(sorted(want), sorted(got)); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
			for i := 1; i <= 3; i++ {
				name := fmt.Sprintf("blade-1-vm%d", i)
				if on := r.Storage.Running(name); !cmp.Equal(on, []string{"blade-2"}) {
					t.Errorf("%s runs on %v, want [blade-2]", name, on)
				}
			}
			if err := r.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestUnreachableBMCNeverTakesOver(t *testing.T) {
	ctx := context.Background()
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	r.Run(ctx, 2)
	if err := r.Inject(Fault{Kind: Unreachable, Server: "blade-1", For: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r.Run(ctx, 25)
	got := summary(r.Events())
	want := []string{
		"alert blade-1->blade-2 bmc-unreachable",
		"alert blade-1->blade-2 bmc-unreachable blade-1-vm1",
		"alert blade-1->blade-2 bmc-unreachable blade-1-vm2",
		"alert blade-1->blade-2 bmc-unreachable blade-1-vm3",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	if err := r.Check(); err != nil {
		t.Error(err)
	}
}

// The checker must catch each kind of broken invariant.
func TestCheckerCatchesBrokenInvariants(t *testing.T) {
	ctx := context.Background()
	t.Run("two copies", func(t *testing.T) {
		r, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		img, err := r.Store.Get(ctx, "blade-1-vm1")
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Server("blade-2").HV.Start(ctx, img); err != nil {
			t.Fatal(err)
		}
		r.Step(ctx)
		if err := r.Check(); !errors.Is(err, ErrInvariant) || !strings.Contains(err.Error(), "runs on 2 servers") {
			t.Errorf("Check = %v, want a two-copies violation", err)
		}
	})
	t.Run("no takeover", func(t *testing.T) {
		r, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		r.Server("blade-2").frozen = true
		if err := r.Inject(Fault{Kind: PowerLoss, Server: "blade-1"}); err != nil {
			t.Fatal(err)
		}
		r.Run(ctx, 60)
		if err := r.Check(); !errors.Is(err, ErrInvariant) || !strings.Contains(err.Error(), "neither running elsewhere") {
			t.Errorf("Check = %v, want a missing-takeover violation", err)
		}
	})
	t.Run("takeover without failure", func(t *testing.T) {
		r, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		// Overheats without the fault being recorded: a healthy server, as
		// far as the checker knows, is taken over.
		if err := r.Server("blade-1").BMC.SetValue("CPU0 Temp", 97); err != nil {
			t.Fatal(err)
		}
		r.Run(ctx, 30)
		if err := r.Check(); !errors.Is(err, ErrInvariant) || !strings.Contains(err.Error(), "takeover of a healthy server") {
			t.Errorf("Check = %v, want a takeover-without-failure violation", err)
		}
	})
}
