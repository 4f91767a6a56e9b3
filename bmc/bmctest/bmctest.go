// Package bmctest is a conformance suite for the power and health roles of
// BMC adapters and simulators (bmc.Power, bmc.HealthReader), in the style
// of gocloud's drivertest: an implementation supplies a Harness and calls
// Run from its own tests. Sensors and the watchdog have their own suites
// (sensor/sensortest, watchdog/watchdogtest).
//
// Run and the Harness funcs are called from the test goroutine; the suite
// calls SetPower from several goroutines in one check, so run it under
// -race.
package bmctest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
)

// Harness lets a BMC implementation plug into the suite.
type Harness struct {
	// Open returns a fresh fixture whose server is powered on. Each
	// subtest opens its own; release resources with t.Cleanup. Required.
	Open func(t *testing.T) Fixture
	// Unreachable returns the power role of a BMC that is gone. SetPower
	// must fail with an error wrapping bmc.ErrUnreachable (the request
	// surely was not sent) or bmc.ErrIndeterminate (it may have been);
	// PowerState with one wrapping bmc.ErrUnreachable. If the value also
	// implements bmc.HealthReader, Health must fail the same way.
	// Required.
	Unreachable func(t *testing.T) bmc.Power
	// Timeout bounds each SetPower call (power-cycling real hardware or
	// ipmi_sim's child process takes seconds). Default 30 s.
	Timeout time.Duration
}

// Fixture is one BMC under test.
type Fixture struct {
	// Power is the implementation under test. Required.
	Power bmc.Power
	// Health reads the same server's health. Required.
	Health bmc.HealthReader
	// ReportStaleOff, when set, makes the BMC REPORT power off (in
	// PowerState and Health) while the host really stays on, until the
	// BMC receives its next power command: a stale or wrong state. The
	// suite then checks that SetPower(off) still sends the power-off.
	// Optional: without it (or without HostPower) FenceSentWhenReadsOff
	// is skipped with a log line naming it.
	ReportStaleOff func() error
	// HostPower reports the host's real power, past what the BMC reports
	// (the simulator's own state, or a command log: on until a power-off
	// or cycle command was received). Needed with ReportStaleOff.
	HostPower func() (bmc.PowerState, error)
}

// unreachableDeadline bounds calls to an unreachable BMC.
const unreachableDeadline = 3 * time.Second

// Run runs every check as a subtest of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil || h.Unreachable == nil {
		t.Fatal("bmctest: Harness.Open and Harness.Unreachable are required")
	}
	if h.Timeout <= 0 {
		h.Timeout = 30 * time.Second
	}
	tests := []struct {
		name string
		f    func(*testing.T, Harness)
	}{
		{"StartsOn", testStartsOn},
		{"OffReadsBackOff", testOff},
		{"OffWhenOffIsSuccess", testOffTwice},
		{"FenceSentWhenReadsOff", testFenceWhenReadsOff},
		{"OnAfterOff", testOn},
		{"OnWhenOnIsSuccess", testOnTwice},
		{"CycleEndsOn", testCycle},
		{"UnknownActionRefused", testUnknownAction},
		{"ConcurrentOff", testConcurrentOff},
		{"UnreachableWrapsErrUnreachable", testUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, h) })
	}
}

func setPower(t *testing.T, h Harness, p bmc.Power, a bmc.PowerAction) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), h.Timeout)
	defer cancel()
	if err := p.SetPower(c, a); err != nil {
		t.Fatalf("SetPower(%v): %v", a, err)
	}
}

// expect checks both the power state and the health's power.
func expect(t *testing.T, f Fixture, want bmc.PowerState, after string) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), unreachableDeadline)
	defer cancel()
	got, err := f.Power.PowerState(c)
	if err != nil {
		t.Fatalf("PowerState %s: %v", after, err)
	}
	if got != want {
		t.Errorf("PowerState %s = %v, want %v", after, got, want)
	}
	hl, err := f.Health.Health(c)
	if err != nil {
		t.Fatalf("Health %s: %v", after, err)
	}
	if hl.Power != want {
		t.Errorf("Health.Power %s = %v, want %v", after, hl.Power, want)
	}
	if want == bmc.PowerOff && !hl.Failed() {
		t.Errorf("Health %s: Failed() is false for a server that is off", after)
	}
}

func testStartsOn(t *testing.T, h Harness) {
	expect(t, h.Open(t), bmc.PowerOn, "of a fresh fixture")
}

func testOff(t *testing.T, h Harness) {
	f := h.Open(t)
	setPower(t, h, f.Power, bmc.PowerActionOff)
	expect(t, f, bmc.PowerOff, "after SetPower(off)")
}

func testOffTwice(t *testing.T, h Harness) {
	f := h.Open(t)
	setPower(t, h, f.Power, bmc.PowerActionOff)
	setPower(t, h, f.Power, bmc.PowerActionOff)
	expect(t, f, bmc.PowerOff, "after SetPower(off) twice")
}

// testFenceWhenReadsOff: a BMC that wrongly reports off must still get
// the power-off; a fence confirmed by the same reading that skipped it
// lets a backup start while the host runs.
func testFenceWhenReadsOff(t *testing.T, h Harness) {
	f := h.Open(t)
	if f.ReportStaleOff == nil || f.HostPower == nil {
		t.Log("bmctest: FenceSentWhenReadsOff skipped: the fixture sets no Fixture.ReportStaleOff and Fixture.HostPower")
		t.SkipNow()
	}
	if err := f.ReportStaleOff(); err != nil {
		t.Fatalf("ReportStaleOff: %v", err)
	}
	if st, err := f.HostPower(); err != nil || st != bmc.PowerOn {
		t.Fatalf("HostPower after ReportStaleOff = %v, %v; want on (the host must stay on)", st, err)
	}
	c, cancel := context.WithTimeout(context.Background(), unreachableDeadline)
	st, err := f.Power.PowerState(c)
	cancel()
	if err != nil || st != bmc.PowerOff {
		t.Fatalf("PowerState after ReportStaleOff = %v, %v; the harness must make the BMC report off", st, err)
	}
	setPower(t, h, f.Power, bmc.PowerActionOff)
	if st, err := f.HostPower(); err != nil || st != bmc.PowerOff {
		t.Fatalf("SetPower(off) of a host the BMC reported off returned success, but the host is %v (%v): no power-off was sent", st, err)
	}
	expect(t, f, bmc.PowerOff, "after SetPower(off) of a host that read off but was on")
}

func testOn(t *testing.T, h Harness) {
	f := h.Open(t)
	setPower(t, h, f.Power, bmc.PowerActionOff)
	setPower(t, h, f.Power, bmc.PowerActionOn)
	expect(t, f, bmc.PowerOn, "after SetPower(off) then SetPower(on)")
}

func testOnTwice(t *testing.T, h Harness) {
	f := h.Open(t)
	setPower(t, h, f.Power, bmc.PowerActionOn)
	expect(t, f, bmc.PowerOn, "after SetPower(on) of a server that was on")
}

func testCycle(t *testing.T, h Harness) {
	f := h.Open(t)
	setPower(t, h, f.Power, bmc.PowerActionCycle)
	expect(t, f, bmc.PowerOn, "after SetPower(cycle)")
	setPower(t, h, f.Power, bmc.PowerActionOff)
	setPower(t, h, f.Power, bmc.PowerActionCycle)
	expect(t, f, bmc.PowerOn, "after SetPower(cycle) of a server that was off")
}

func testUnknownAction(t *testing.T, h Harness) {
	f := h.Open(t)
	for _, a := range []bmc.PowerAction{0, 99} {
		c, cancel := context.WithTimeout(context.Background(), h.Timeout)
		err := f.Power.SetPower(c, a)
		cancel()
		if !errors.Is(err, bmc.ErrUnsupported) {
			t.Errorf("SetPower(%v): err = %v, want one wrapping bmc.ErrUnsupported", a, err)
		}
	}
	expect(t, f, bmc.PowerOn, "after refused unknown actions")
}

func testConcurrentOff(t *testing.T, h Harness) {
	f := h.Open(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(context.Background(), h.Timeout)
			defer cancel()
			errs <- f.Power.SetPower(c, bmc.PowerActionOff)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent SetPower(off): %v", err)
		}
	}
	expect(t, f, bmc.PowerOff, "after concurrent SetPower(off)")
}

func testUnreachable(t *testing.T, h Harness) {
	p := h.Unreachable(t)
	check := func(what string, err error, ok bool, took time.Duration) {
		t.Helper()
		if !ok {
			t.Errorf("%s on an unreachable BMC: err = %v", what, err)
		}
		if took > unreachableDeadline+500*time.Millisecond {
			t.Errorf("%s on an unreachable BMC took %v, beyond the %v deadline", what, took, unreachableDeadline)
		}
	}
	for _, a := range []bmc.PowerAction{bmc.PowerActionOff, bmc.PowerActionOn, bmc.PowerActionCycle} {
		c, cancel := context.WithTimeout(context.Background(), unreachableDeadline)
		start := time.Now()
		err := p.SetPower(c, a)
		cancel()
		check("SetPower("+a.String()+")", err, errors.Is(err, bmc.ErrUnreachable) || errors.Is(err, bmc.ErrIndeterminate), time.Since(start))
	}
	c, cancel := context.WithTimeout(context.Background(), unreachableDeadline)
	defer cancel()
	start := time.Now()
	st, err := p.PowerState(c)
	check("PowerState", err, errors.Is(err, bmc.ErrUnreachable), time.Since(start))
	if err != nil && st != bmc.PowerUnknown {
		t.Errorf("PowerState on an unreachable BMC returned %v with its error, want unknown", st)
	}
	if hr, ok := p.(bmc.HealthReader); ok {
		c, cancel := context.WithTimeout(context.Background(), unreachableDeadline)
		defer cancel()
		start := time.Now()
		_, err := hr.Health(c)
		check("Health", err, errors.Is(err, bmc.ErrUnreachable), time.Since(start))
	}
}
