// Package watchdogtest is a conformance suite for watchdog.Watchdog
// implementations (BMC adapters and simulators), in the style of gocloud's
// drivertest: an implementation supplies a Harness and calls Run from its
// own tests.
//
// The suite works against real time (it sleeps) or, when the fixture has
// an Advance func, against the fixture's manual clock. Run and the Harness
// funcs are called from the test goroutine; the suite calls the watchdog
// from several goroutines in one check, so run it under -race.
package watchdogtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/watchdog"
)

// Harness lets a watchdog.Watchdog implementation plug into the suite.
type Harness struct {
	// Open returns a fresh fixture whose watchdog has never been armed
	// (or was reset to that state). Each subtest opens its own; release
	// resources with t.Cleanup. Required.
	Open func(t *testing.T) Fixture
	// Unreachable returns a watchdog whose BMC is gone. Arm, Kick and
	// State must fail with an error wrapping bmc.ErrUnreachable before
	// the suite's 3 s deadline. Required.
	Unreachable func(t *testing.T) watchdog.Watchdog
	// MinTimeout is the timeout the suite arms with: the smallest the BMC
	// handles reliably (100 ms for simulators, 1 s for ipmi_sim). Default
	// 1 s. The suite's run time grows with it (about 12 x MinTimeout on
	// real time).
	MinTimeout time.Duration
	// Slack is how late after the timeout an expiry may first be seen
	// (BMC polling, action latency). Default 0 on a manual clock, else
	// MinTimeout.
	Slack time.Duration
	// Action is the expiry action the suite arms with. Default
	// watchdog.ActionNone; set another where the BMC does not count down
	// without an action (ipmi_sim).
	Action watchdog.Action
	// Resolution is the BMC's timer resolution: Timeout and Remaining are
	// compared within it. Default 100 ms (IPMI's unit).
	Resolution time.Duration
	// NotArmedUnchecked skips the Kick-before-Arm check, for BMCs whose
	// watchdog cannot be returned to the never-armed state (say why in the
	// test that sets it).
	NotArmedUnchecked bool
}

// Fixture is one watchdog under test and its clock.
type Fixture struct {
	// Watchdog is the implementation under test. Required.
	Watchdog watchdog.Watchdog
	// Advance moves the fixture's manual clock forward by d. Nil means
	// the watchdog runs on real time and the suite sleeps.
	Advance func(d time.Duration)
}

const deadline = 3 * time.Second

func (h Harness) withDefaults() Harness {
	if h.MinTimeout <= 0 {
		h.MinTimeout = time.Second
	}
	if h.Resolution <= 0 {
		h.Resolution = 100 * time.Millisecond
	}
	return h
}

// Run runs every check as a subtest of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil || h.Unreachable == nil {
		t.Fatal("watchdogtest: Harness.Open and Harness.Unreachable are required")
	}
	h = h.withDefaults()
	tests := []struct {
		name string
		f    func(*testing.T, Harness, *fixture)
	}{
		{"KickBeforeArmIsNotArmed", testKickBeforeArm},
		{"ArmThenState", testArmState},
		{"RemainingCountsDown", testCountsDown},
		{"KickingKeepsAlive", testKickKeepsAlive},
		{"ExpiresWithoutKicks", testExpires},
		{"ArmAgainClearsExpired", testRearm},
		{"InvalidTimeout", testInvalidTimeout},
		{"Disarm", testDisarm},
		{"ConcurrentCalls", testConcurrent},
		{"UnreachableWrapsErrUnreachable", func(t *testing.T, h Harness, _ *fixture) { testUnreachable(t, h) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f *fixture
			if tc.name != "UnreachableWrapsErrUnreachable" {
				f = newFixture(h, h.Open(t))
			}
			tc.f(t, h, f)
		})
	}
}

// fixture tracks elapsed time on either clock.
type fixture struct {
	Fixture
	slack time.Duration
}

func newFixture(h Harness, f Fixture) *fixture {
	slack := h.Slack
	if slack <= 0 && f.Advance == nil {
		slack = h.MinTimeout
	}
	return &fixture{Fixture: f, slack: slack}
}

func (f *fixture) manual() bool { return f.Advance != nil }

// wait lets d pass on the fixture's clock.
func (f *fixture) wait(d time.Duration) {
	if f.Advance != nil {
		f.Advance(d)
		return
	}
	time.Sleep(d)
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), deadline)
}

func arm(t *testing.T, h Harness, f *fixture) {
	t.Helper()
	c, cancel := callCtx()
	defer cancel()
	if err := f.Watchdog.Arm(c, h.MinTimeout, h.Action); err != nil {
		t.Fatalf("Arm(%v, %v): %v", h.MinTimeout, h.Action, err)
	}
}

func kick(t *testing.T, f *fixture) {
	t.Helper()
	c, cancel := callCtx()
	defer cancel()
	if err := f.Watchdog.Kick(c); err != nil {
		t.Fatalf("Kick: %v", err)
	}
}

func state(t *testing.T, f *fixture) watchdog.State {
	t.Helper()
	c, cancel := callCtx()
	defer cancel()
	s, err := f.Watchdog.State(c)
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	return s
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func testKickBeforeArm(t *testing.T, h Harness, f *fixture) {
	if h.NotArmedUnchecked {
		t.Skip("Harness.NotArmedUnchecked: this BMC's watchdog cannot be returned to never-armed")
	}
	c, cancel := callCtx()
	defer cancel()
	if err := f.Watchdog.Kick(c); !errors.Is(err, watchdog.ErrNotArmed) {
		t.Fatalf("Kick before Arm: err = %v, want one wrapping watchdog.ErrNotArmed", err)
	}
}

func testArmState(t *testing.T, h Harness, f *fixture) {
	arm(t, h, f)
	s := state(t, f)
	if s.Expired {
		t.Errorf("State right after Arm: Expired")
	}
	if !s.Running {
		t.Errorf("State right after Arm: not Running")
	}
	if abs(s.Timeout-h.MinTimeout) > h.Resolution {
		t.Errorf("State.Timeout %v, armed with %v (resolution %v)", s.Timeout, h.MinTimeout, h.Resolution)
	}
	if s.Remaining > s.Timeout || s.Remaining <= 0 {
		t.Errorf("State.Remaining %v, want in (0, Timeout %v]", s.Remaining, s.Timeout)
	}
	if s.Action != h.Action {
		t.Errorf("State.Action %v, armed with %v", s.Action, h.Action)
	}
}

func testCountsDown(t *testing.T, h Harness, f *fixture) {
	arm(t, h, f)
	start := time.Now()
	half := h.MinTimeout / 2
	f.wait(half)
	elapsed := half
	if !f.manual() {
		elapsed = time.Since(start)
	}
	s := state(t, f)
	if s.Expired {
		t.Fatalf("Expired after %v of a %v timeout", elapsed, h.MinTimeout)
	}
	if limit := h.MinTimeout - elapsed + h.Resolution; s.Remaining > limit {
		t.Errorf("Remaining %v after %v of %v; want at most %v", s.Remaining, elapsed, h.MinTimeout, limit)
	}
	if f.manual() && s.Remaining < h.MinTimeout-elapsed-h.Resolution {
		t.Errorf("Remaining %v after exactly %v of %v on a manual clock", s.Remaining, elapsed, h.MinTimeout)
	}
}

func testKickKeepsAlive(t *testing.T, h Harness, f *fixture) {
	arm(t, h, f)
	step := h.MinTimeout / 3
	for i := range 9 { // three timeouts
		f.wait(step)
		kick(t, f)
		if s := state(t, f); s.Expired {
			t.Fatalf("Expired after kick %d (kicked every %v, timeout %v)", i+1, step, h.MinTimeout)
		}
	}
	// A kick restarts the countdown from the full timeout.
	if s := state(t, f); s.Remaining < h.MinTimeout-step-h.Resolution && f.manual() {
		t.Errorf("Remaining %v right after a kick, want about %v", s.Remaining, h.MinTimeout)
	}
}

// waitExpired waits, in steps, until State reports Expired or the timeout
// plus slack has passed since armed; it returns how long it took on the
// fixture's clock.
func waitExpired(t *testing.T, h Harness, f *fixture, armed time.Time) (time.Duration, bool) {
	t.Helper()
	step := h.MinTimeout / 10
	var elapsed time.Duration
	for {
		if !f.manual() {
			elapsed = time.Since(armed)
		}
		if state(t, f).Expired {
			return elapsed, true
		}
		if elapsed > h.MinTimeout+f.slack {
			return elapsed, false
		}
		f.wait(step)
		if f.manual() {
			elapsed += step
		}
	}
}

func testExpires(t *testing.T, h Harness, f *fixture) {
	arm(t, h, f)
	armed := time.Now()
	early := h.MinTimeout - h.Resolution
	if early > 0 && f.manual() {
		f.wait(early)
		if state(t, f).Expired {
			t.Fatalf("Expired after %v of a %v timeout: too early", early, h.MinTimeout)
		}
		f.wait(h.Resolution)
		if s := state(t, f); !s.Expired {
			t.Fatalf("not Expired after exactly the %v timeout on a manual clock: %+v", h.MinTimeout, s)
		}
		return
	}
	took, ok := waitExpired(t, h, f, armed)
	if !ok {
		t.Fatalf("not Expired %v after Arm(%v) without kicks (slack %v)", took, h.MinTimeout, f.slack)
	}
	if took < h.MinTimeout-h.Resolution {
		t.Errorf("Expired after %v of a %v timeout: too early", took, h.MinTimeout)
	}
}

func testRearm(t *testing.T, h Harness, f *fixture) {
	arm(t, h, f)
	if _, ok := waitExpired(t, h, f, time.Now()); !ok {
		t.Fatalf("not Expired after Arm(%v) without kicks", h.MinTimeout)
	}
	arm(t, h, f)
	if s := state(t, f); s.Expired || !s.Running {
		t.Fatalf("after Arm again: %+v, want Running and not Expired", s)
	}
}

func testInvalidTimeout(t *testing.T, h Harness, f *fixture) {
	for _, d := range []time.Duration{0, -time.Second} {
		c, cancel := callCtx()
		err := f.Watchdog.Arm(c, d, h.Action)
		cancel()
		if !errors.Is(err, watchdog.ErrInvalidTimeout) {
			t.Errorf("Arm(%v): err = %v, want one wrapping watchdog.ErrInvalidTimeout", d, err)
		}
	}
}

func testDisarm(t *testing.T, h Harness, f *fixture) {
	d, ok := f.Watchdog.(watchdog.Disarmer)
	if !ok {
		t.Skip("watchdog does not implement watchdog.Disarmer")
	}
	arm(t, h, f)
	c, cancel := callCtx()
	defer cancel()
	if err := d.Disarm(c); err != nil {
		t.Fatalf("Disarm: %v", err)
	}
	f.wait(h.MinTimeout + f.slack)
	if s := state(t, f); s.Expired || s.Running {
		t.Fatalf("%v after Disarm: %+v, want neither Running nor Expired", h.MinTimeout+f.slack, s)
	}
}

func testConcurrent(t *testing.T, h Harness, f *fixture) {
	arm(t, h, f)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 4 {
				c, cancel := callCtx()
				if err := f.Watchdog.Kick(c); err != nil {
					errs <- err
				}
				cancel()
			}
		}()
		go func() {
			defer wg.Done()
			for range 4 {
				c, cancel := callCtx()
				if _, err := f.Watchdog.State(c); err != nil {
					errs <- err
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Kick/State: %v", err)
	}
}

func testUnreachable(t *testing.T, h Harness) {
	w := h.Unreachable(t)
	calls := []struct {
		name string
		f    func(context.Context) error
	}{
		{"Arm", func(c context.Context) error { return w.Arm(c, h.MinTimeout, h.Action) }},
		{"Kick", w.Kick},
		{"State", func(c context.Context) error { _, err := w.State(c); return err }},
	}
	for _, call := range calls {
		c, cancel := callCtx()
		start := time.Now()
		err := call.f(c)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, bmc.ErrUnreachable) {
			t.Errorf("%s on an unreachable BMC: err = %v, want one wrapping bmc.ErrUnreachable", call.name, err)
		}
		if took > deadline+500*time.Millisecond {
			t.Errorf("%s on an unreachable BMC took %v, beyond the %v deadline", call.name, took, deadline)
		}
	}
}
