// Package sensortest is a conformance suite for sensor.Source
// implementations (BMC adapters and simulators), in the style of gocloud's
// drivertest: an implementation supplies a Harness and calls Run from its
// own tests.
//
// Run and the Harness funcs are called from the test goroutine; the suite
// itself calls Readings from several goroutines to check the concurrency
// rule of sensor.Source, so run it under -race.
package sensortest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

// Harness lets a sensor.Source implementation plug into the suite.
type Harness struct {
	// Open returns a fresh fixture whose source answers and has at least
	// one reading. Each subtest opens its own; release resources with
	// t.Cleanup. Required.
	Open func(t *testing.T) Fixture
	// Unreachable returns a source whose BMC is gone (a closed port, a
	// stopped simulator). Readings must fail with an error wrapping
	// bmc.ErrUnreachable before the suite's 3 s deadline. Required.
	Unreachable func(t *testing.T) sensor.Source
	// Tolerance is how far a reported value may be from the value
	// Fixture.SetValue said to expect (in the reading's unit). 0 means
	// exact.
	Tolerance float64
	// Units adds accepted units per kind to the defaults (see Units).
	Units map[sensor.Kind][]string
}

// Fixture is one source under test and the means to change its values.
type Fixture struct {
	// Source is the implementation under test. Required.
	Source sensor.Source
	// SetValue makes the sensor called name read v. It returns the value
	// the source must report on its next Readings, which may differ from v
	// by the adapter's raw conversion (IPMI's 8-bit readings). Nil if the
	// fixture cannot change values; the SetValue checks are then skipped.
	SetValue func(name string, v float64) (want float64, err error)
}

// Units are the units accepted for each kind unless Harness.Units adds
// more. Kinds not listed (KindOther) accept any unit.
var Units = map[sensor.Kind][]string{
	sensor.KindVoltage:     {"V"},
	sensor.KindTemperature: {"C"},
	sensor.KindPower:       {"W"},
	sensor.KindFan:         {"RPM", "%"},
	sensor.KindCurrent:     {"A"},
}

// deadline bounds each call; unreachable BMCs must answer within it.
const deadline = 3 * time.Second

// Run runs every check as a subtest of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil || h.Unreachable == nil {
		t.Fatal("sensortest: Harness.Open and Harness.Unreachable are required")
	}
	tests := []struct {
		name string
		f    func(*testing.T, Harness)
	}{
		{"ReadingsValidate", testValidate},
		{"NamesUnique", testNamesUnique},
		{"KindUnitConsistent", testUnits},
		{"ThresholdsOrdered", testThresholdsOrdered},
		{"UnavailableHasZeroValue", testUnavailable},
		{"TimeSet", testTime},
		{"SliceBelongsToCaller", testSliceOwned},
		{"ConcurrentCalls", testConcurrent},
		{"CancelledContext", testCancelled},
		{"SetValueReported", testSetValue},
		{"UnreachableWrapsErrUnreachable", testUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, h) })
	}
}

func read(t *testing.T, s sensor.Source) []sensor.Reading {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	rs, err := s.Readings(c)
	if err != nil {
		t.Fatalf("Readings: %v", err)
	}
	if len(rs) == 0 {
		t.Fatal("Readings returned no readings; the fixture must have at least one sensor")
	}
	return rs
}

func testValidate(t *testing.T, h Harness) {
	for _, r := range read(t, h.Open(t).Source) {
		if err := r.Validate(); err != nil {
			t.Errorf("reading %q does not validate: %v", r.Name, err)
		}
	}
}

func testNamesUnique(t *testing.T, h Harness) {
	seen := map[string]int{}
	for i, r := range read(t, h.Open(t).Source) {
		if j, dup := seen[r.Name]; dup {
			t.Errorf("readings %d and %d are both named %q", j, i, r.Name)
		}
		seen[r.Name] = i
	}
}

func testUnits(t *testing.T, h Harness) {
	for _, r := range read(t, h.Open(t).Source) {
		ok := append(slices.Clone(Units[r.Kind]), h.Units[r.Kind]...)
		if len(ok) == 0 {
			continue
		}
		if !slices.Contains(ok, r.Unit) {
			t.Errorf("reading %q: kind %s with unit %q, want one of %q", r.Name, r.Kind, r.Unit, ok)
		}
	}
}

func testThresholdsOrdered(t *testing.T, h Harness) {
	for _, r := range read(t, h.Open(t).Source) {
		th := r.Thresholds
		order := []struct {
			name string
			l    sensor.Limit
		}{
			{"LowerFatal", th.LowerFatal}, {"LowerCritical", th.LowerCritical}, {"LowerCaution", th.LowerCaution},
			{"UpperCaution", th.UpperCaution}, {"UpperCritical", th.UpperCritical}, {"UpperFatal", th.UpperFatal},
		}
		for i := range order {
			for j := i + 1; j < len(order); j++ {
				a, b := order[i], order[j]
				if a.l.Set && b.l.Set && a.l.Value > b.l.Value {
					t.Errorf("reading %q: %s %v > %s %v; thresholds must be ordered", r.Name, a.name, a.l.Value, b.name, b.l.Value)
				}
			}
		}
		for _, o := range order {
			if !o.l.Set && o.l.Value != 0 {
				t.Errorf("reading %q: %s not Set but holds %v", r.Name, o.name, o.l.Value)
			}
		}
	}
}

func testUnavailable(t *testing.T, h Harness) {
	for _, r := range read(t, h.Open(t).Source) {
		if r.Status != sensor.StatusOK && r.Status != sensor.StatusUnavailable {
			t.Errorf("reading %q: unknown status %v", r.Name, r.Status)
		}
		if r.Status == sensor.StatusUnavailable && r.Value != 0 {
			t.Errorf("reading %q is unavailable but has Value %v, want 0", r.Name, r.Value)
		}
	}
}

func testTime(t *testing.T, h Harness) {
	for _, r := range read(t, h.Open(t).Source) {
		if r.Time.IsZero() {
			t.Errorf("reading %q has a zero Time", r.Name)
		}
	}
}

// shape is what must not change between two calls: values may move.
type shape struct {
	Name       string
	Kind       sensor.Kind
	Unit       string
	Thresholds sensor.Thresholds
}

func shapes(rs []sensor.Reading) []shape {
	out := make([]shape, len(rs))
	for i, r := range rs {
		out[i] = shape{r.Name, r.Kind, r.Unit, r.Thresholds}
	}
	return out
}

func testSliceOwned(t *testing.T, h Harness) {
	s := h.Open(t).Source
	first := read(t, s)
	want := shapes(first)
	for i := range first {
		first[i].Name = "tampered"
		first[i].Unit = "tampered"
		first[i].Kind = sensor.KindOther
		first[i].Thresholds.UpperCritical = sensor.At(-1)
		first[i].Value = math.NaN()
	}
	got := shapes(read(t, s))
	if !slices.Equal(want, got) {
		t.Fatalf("mutating the slice Readings returned changed the next call:\nfirst: %+v\nnext:  %+v", want, got)
	}
}

func testConcurrent(t *testing.T, h Harness) {
	s := h.Open(t).Source
	want := shapes(read(t, s))
	const goroutines, calls = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				c, cancel := context.WithTimeout(context.Background(), 4*deadline)
				rs, err := s.Readings(c)
				cancel()
				if err != nil {
					errs <- err
					continue
				}
				if got := shapes(rs); !slices.Equal(want, got) {
					errs <- fmt.Errorf("concurrent call returned other sensors: %+v", got)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Readings: %v", err)
	}
}

func testCancelled(t *testing.T, h Harness) {
	s := h.Open(t).Source
	c, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Readings(c)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Readings with a cancelled context returned no error")
		}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, bmc.ErrUnreachable) {
			t.Errorf("Readings with a cancelled context: err = %v, want one wrapping context.Canceled or bmc.ErrUnreachable", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Readings with a cancelled context did not return within 1s")
	}
}

// targets picks values to set on r: one inside its normal band that
// differs from the current value, and, when set, the upper critical
// threshold itself (equal counts as reaching it).
func targets(r sensor.Reading) []float64 {
	th := r.Thresholds
	var normal float64
	switch {
	case th.LowerCaution.Set && th.UpperCaution.Set:
		normal = (th.LowerCaution.Value + th.UpperCaution.Value) / 2
	case th.LowerCritical.Set && th.UpperCritical.Set:
		normal = (th.LowerCritical.Value + th.UpperCritical.Value) / 2
	case th.UpperCaution.Set:
		normal = th.UpperCaution.Value * 0.8
	default:
		normal = r.Value * 0.9
	}
	if normal == r.Value {
		// Move within the band, towards its upper edge.
		switch {
		case th.UpperCaution.Set && th.UpperCaution.Value > normal:
			normal = (normal + th.UpperCaution.Value) / 2
		case normal != 0:
			normal *= 0.95
		default:
			normal = 1
		}
	}
	out := []float64{normal}
	if th.UpperCritical.Set {
		out = append(out, th.UpperCritical.Value)
	}
	return out
}

func testSetValue(t *testing.T, h Harness) {
	f := h.Open(t)
	if f.SetValue == nil {
		t.Skip("fixture cannot change values (Fixture.SetValue is nil)")
	}
	rs := read(t, f.Source)
	tried := map[sensor.Kind]bool{}
	for _, r := range rs {
		if r.Status != sensor.StatusOK || (r.Kind != sensor.KindVoltage && r.Kind != sensor.KindTemperature) || tried[r.Kind] {
			continue
		}
		tried[r.Kind] = true
		for _, v := range targets(r) {
			want, err := f.SetValue(r.Name, v)
			if err != nil {
				t.Fatalf("SetValue(%q, %v): %v", r.Name, v, err)
			}
			got, ok := find(read(t, f.Source), r.Name)
			switch {
			case !ok:
				t.Errorf("after SetValue(%q, %v) the reading is gone", r.Name, v)
			case got.Status != sensor.StatusOK:
				t.Errorf("after SetValue(%q, %v) the reading is %v", r.Name, v, got.Status)
			case math.Abs(got.Value-want) > h.Tolerance:
				t.Errorf("after SetValue(%q, %v): Value %v, want %v ± %v", r.Name, v, got.Value, want, h.Tolerance)
			}
		}
	}
	if len(tried) == 0 {
		t.Skip("fixture has no available voltage or temperature sensor to set")
	}
}

func find(rs []sensor.Reading, name string) (sensor.Reading, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r, true
		}
	}
	return sensor.Reading{}, false
}

func testUnreachable(t *testing.T, h Harness) {
	s := h.Unreachable(t)
	c, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	rs, err := s.Readings(c)
	took := time.Since(start)
	if !errors.Is(err, bmc.ErrUnreachable) {
		t.Fatalf("Readings from an unreachable BMC: err = %v (%d readings), want one wrapping bmc.ErrUnreachable", err, len(rs))
	}
	if took > deadline+500*time.Millisecond {
		t.Errorf("Readings from an unreachable BMC took %v, beyond the %v deadline", took, deadline)
	}
}
