package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// fakeRoles serves every role with fixed answers and counts the calls.
type fakeRoles struct {
	health   bmc.Health
	wd       watchdog.State
	err      map[string]error // by role
	calls    int
	readings []sensor.Reading
}

func (f *fakeRoles) Readings(context.Context) ([]sensor.Reading, error) {
	f.calls++
	return f.readings, f.err["readings"]
}

func (f *fakeRoles) Health(context.Context) (bmc.Health, error) {
	f.calls++
	return f.health, f.err["health"]
}

func (f *fakeRoles) PowerState(context.Context) (bmc.PowerState, error) {
	f.calls++
	return f.health.Power, f.err["power"]
}

func (f *fakeRoles) SetPower(context.Context, bmc.PowerAction) error { return bmc.ErrUnsupported }

func (f *fakeRoles) Arm(context.Context, time.Duration, watchdog.Action) error { return nil }
func (f *fakeRoles) Kick(context.Context) error                                { return nil }
func (f *fakeRoles) State(context.Context) (watchdog.State, error) {
	f.calls++
	return f.wd, f.err["watchdog"]
}

func fakeTarget(f *fakeRoles) target {
	return target{name: "fake", sensors: f, health: f, power: f, watchdog: f}
}

// TestCollectVerdict: which answers make a target fail (exit 1) and
// which are only "not offered".
func TestCollectVerdict(t *testing.T) {
	on := bmc.Health{Power: bmc.PowerOn}
	unsupported := fmt.Errorf("redfish: no HostWatchdogTimer: %w", bmc.ErrUnsupported)
	for _, tc := range []struct {
		name         string
		f            fakeRoles
		nilWatchdog  bool
		ok           bool
		failures     []string
		notOffered   []string
		callsAtLeast int
	}{
		{name: "healthy", f: fakeRoles{health: on}, ok: true},
		{name: "nil watchdog", f: fakeRoles{health: on}, nilWatchdog: true, ok: true, notOffered: []string{"watchdog"}},
		{name: "watchdog unsupported", f: fakeRoles{health: on, err: map[string]error{"watchdog": unsupported}},
			ok: true, notOffered: []string{"watchdog"}},
		{name: "watchdog expired", f: fakeRoles{health: on, wd: watchdog.State{Expired: true}},
			failures: []string{"watchdog expired"}},
		{name: "power fault", f: fakeRoles{health: bmc.Health{Power: bmc.PowerOn, PowerFault: true}},
			failures: []string{"health failed: power fault"}},
		{name: "blade fault", f: fakeRoles{health: bmc.Health{Power: bmc.PowerOn, Fault: true, Detail: "CPU IERR"}},
			failures: []string{"health failed: blade fault (CPU IERR)"}},
		{name: "off", f: fakeRoles{health: bmc.Health{Power: bmc.PowerOff}},
			failures: []string{"health failed: power off"}},
		{name: "health read fails", f: fakeRoles{health: on, err: map[string]error{"health": fmt.Errorf("%w: bad answer", bmc.ErrMalformed)}},
			failures: []string{"health read failed"}},
		{name: "unreachable: later roles not tried",
			f:        fakeRoles{err: map[string]error{"readings": fmt.Errorf("%w: timeout", bmc.ErrUnreachable)}},
			failures: []string{"readings read failed", "health read failed", "power read failed", "watchdog read failed"}},
	} {
		f := tc.f
		tg := fakeTarget(&f)
		if tc.nilWatchdog {
			tg.watchdog = nil
		}
		s := collect(context.Background(), tg)
		if s.OK != tc.ok || !slices.Equal(s.Failures, tc.failures) || !slices.Equal(s.NotOffered, tc.notOffered) {
			t.Errorf("%s: ok %t failures %q not offered %q; want %t %q %q", tc.name, s.OK, s.Failures, s.NotOffered, tc.ok, tc.failures, tc.notOffered)
		}
		if tc.name == "unreachable: later roles not tried" && f.calls != 1 {
			t.Errorf("%s: %d calls, want 1", tc.name, f.calls)
		}
	}
}
