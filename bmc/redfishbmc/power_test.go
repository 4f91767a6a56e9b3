package redfishbmc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

func TestListSystemsEnclosure(t *testing.T) {
	s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{})
	systems, err := ListSystems(ctxT(t, 5*time.Second), testConfig(s, ""))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, sys := range systems {
		ids = append(ids, sys.ID)
		if sys.Power != bmc.PowerOn || sys.Health != "OK" {
			t.Errorf("%s: %v %s", sys.ID, sys.Power, sys.Health)
		}
	}
	if diff := cmp.Diff([]string{"529QB9450R6", "529QB9451R6", "529QB9452R6", "529QB9453R6"}, ids); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n := s.Sessions(); n != 0 {
		t.Errorf("ListSystems left %d sessions open", n)
	}
	_, err = Open(ctxT(t, 5*time.Second), testConfig(s, ""))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "4 systems") {
		t.Errorf("Open of an enclosure without System: %v", err)
	}
	b := open(t, testConfig(s, "/redfish/v1/Systems/529QB9452R6"))
	if b.System().ID != "529QB9452R6" {
		t.Errorf("system by path: %+v", b.System())
	}
}

func TestHealth(t *testing.T) {
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	sysPath := "/redfish/v1/Systems/" + towerSys
	for _, tc := range []struct {
		name  string
		patch map[string]any
		want  bmc.Health
	}{
		{"ok", nil, bmc.Health{Power: bmc.PowerOn}},
		{"critical", map[string]any{"Status": map[string]any{"Health": "Critical"}}, bmc.Health{Power: bmc.PowerOn, Fault: true, Detail: "Status.Health Critical"}},
		{"rollup only", map[string]any{"Status": map[string]any{"Health": "OK", "HealthRollup": "Critical"}}, bmc.Health{Power: bmc.PowerOn, Detail: "Status.HealthRollup Critical"}},
		{"off", map[string]any{"PowerState": "Off", "Status": map[string]any{"HealthRollup": "OK"}}, bmc.Health{Power: bmc.PowerOff}},
		{"powering on", map[string]any{"PowerState": "PoweringOn"}, bmc.Health{Power: bmc.PowerUnknown}},
		{"offline", map[string]any{"PowerState": "On", "Status": map[string]any{"State": "UnavailableOffline"}}, bmc.Health{Power: bmc.PowerOn, Fault: true, Detail: "Status.State UnavailableOffline"}},
	} {
		if tc.patch != nil {
			if err := s.Set(sysPath, tc.patch); err != nil {
				t.Fatal(err)
			}
		}
		h, err := b.Health(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, h); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	s.Inject(redfishsim.Fault{Path: sysPath, Status: 500})
	if _, err := b.Health(ctxT(t, 5*time.Second)); !errors.Is(err, bmc.ErrUnreachable) {
		t.Errorf("500: %v", err)
	}
	s.ClearFaults()
	s.Inject(redfishsim.Fault{Path: sysPath, Body: []byte(`{"PowerState": 7}`)})
	if _, err := b.PowerState(ctxT(t, 5*time.Second)); !errors.Is(err, bmc.ErrMalformed) {
		t.Errorf("wrong type: %v", err)
	}
}

func TestSetPowerCycle(t *testing.T) {
	for _, delay := range []time.Duration{0, 150 * time.Millisecond} {
		s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{ResetDelay: delay})
		b := open(t, testConfig(s, bladeSys))
		target := "/redfish/v1/Systems/" + bladeSys + "/Actions/ComputerSystem.Reset"
		for _, step := range []struct {
			a    bmc.PowerAction
			want bmc.PowerState
			post int
		}{
			{bmc.PowerActionOff, bmc.PowerOff, 1},
			{bmc.PowerActionOff, bmc.PowerOff, 2},  // already off: the fence is sent all the same
			{bmc.PowerActionCycle, bmc.PowerOn, 3}, // off: cycle powers on
			{bmc.PowerActionCycle, bmc.PowerOn, 4},
			{bmc.PowerActionOn, bmc.PowerOn, 5},
		} {
			if err := b.SetPower(ctxT(t, 5*time.Second), step.a); err != nil {
				t.Fatalf("delay %v: %v: %v", delay, step.a, err)
			}
			st, err := b.PowerState(ctxT(t, 5*time.Second))
			if err != nil || st != step.want {
				t.Fatalf("delay %v: after %v: %v %v", delay, step.a, st, err)
			}
			if n := s.Count("POST", target); n != step.post {
				t.Fatalf("delay %v: after %v: %d resets posted, want %d", delay, step.a, n, step.post)
			}
		}
		sys, _ := s.Get("/redfish/v1/Systems/" + bladeSys)
		if sys["Status"].(map[string]any)["State"] != "Enabled" {
			t.Errorf("Status.State after power on: %v", sys["Status"])
		}
	}
}

// The advertised target is used even when it lacks /Actions/.
func TestSetPowerAdvertisedTarget(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	if err := b.SetPower(ctxT(t, 5*time.Second), bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	if n := s.Count("POST", "/redfish/v1/Systems/1/ComputerSystem.Reset"); n != 1 {
		t.Fatalf("%d posts to the advertised target", n)
	}
	// mini allows ForceRestart but not PowerCycle.
	if err := b.SetPower(ctxT(t, 5*time.Second), bmc.PowerActionOn); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPower(ctxT(t, 5*time.Second), bmc.PowerActionCycle); err != nil {
		t.Fatal(err)
	}
	_ = s.Set("/redfish/v1/Systems/1", map[string]any{"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{
		"ResetType@Redfish.AllowableValues": []any{"GracefulShutdown"}}}})
	if err := b.SetPower(ctxT(t, 5*time.Second), bmc.PowerActionOff); !errors.Is(err, bmc.ErrUnsupported) {
		t.Fatalf("no ForceOff allowed: %v", err)
	}
}

// A 409 on a system already off is success once read back Off.
func TestSetPowerConflictAlreadyOff(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{ConflictWhenOff: true})
	b := open(t, testConfig(s, ""))
	_ = s.Set("/redfish/v1/Systems/1", map[string]any{"PowerState": "Off"})
	// The first read still says On (a stale answer), so the reset is sent.
	stale, _ := s.Get("/redfish/v1/Systems/1")
	stale["PowerState"] = "On"
	body, _ := jsonMarshal(stale)
	s.Inject(redfishsim.Fault{Path: "/redfish/v1/Systems/1", Method: "GET", Body: body, Times: 1})
	if err := b.SetPower(ctxT(t, 5*time.Second), bmc.PowerActionOff); err != nil {
		t.Fatalf("409 on an off system: %v", err)
	}
	if n := s.Count("POST", "/redfish/v1/Systems/1/ComputerSystem.Reset"); n != 1 {
		t.Fatalf("%d posts, want 1 (answered 409)", n)
	}
}

// A system that wrongly reads off still gets the ForceOff: the fence is
// never skipped on the reading that would then confirm it.
func TestSetPowerOffSentWhenReadsOff(t *testing.T) {
	for _, conflict := range []bool{false, true} {
		s := startSim(t, "testdata/mini", redfishsim.Options{ConflictWhenOff: conflict})
		b := open(t, testConfig(s, ""))
		if err := s.ReportStalePower("/redfish/v1/Systems/1", "Off"); err != nil {
			t.Fatal(err)
		}
		if st, err := b.PowerState(ctxT(t, 5*time.Second)); err != nil || st != bmc.PowerOff {
			t.Fatalf("stale state not reported: %v %v", st, err)
		}
		if err := b.SetPower(ctxT(t, 5*time.Second), bmc.PowerActionOff); err != nil {
			t.Fatalf("conflict %v: %v", conflict, err)
		}
		if n := s.Count("POST", "/redfish/v1/Systems/1/ComputerSystem.Reset"); n != 1 {
			t.Fatalf("conflict %v: %d resets posted, want 1", conflict, n)
		}
		if sys, _ := s.Get("/redfish/v1/Systems/1"); sys["PowerState"] != "Off" {
			t.Fatalf("conflict %v: host is %v after a confirmed fence", conflict, sys["PowerState"])
		}
	}
}

// A lost answer is indeterminate, never a plain error.
func TestSetPowerIndeterminate(t *testing.T) {
	for _, f := range []redfishsim.Fault{
		{Drop: true},
		{Latency: 2 * time.Second},
		{Status: 500},
	} {
		s := startSim(t, "testdata/mini", redfishsim.Options{})
		cfg := testConfig(s, "")
		cfg.RequestTimeout = 500 * time.Millisecond
		b := open(t, cfg)
		f.Path, f.Method = "/redfish/v1/Systems/1/ComputerSystem.Reset", "POST"
		s.Inject(f)
		err := b.SetPower(ctxT(t, time.Second), bmc.PowerActionOff)
		if !errors.Is(err, bmc.ErrIndeterminate) {
			t.Errorf("%+v: err = %v, want ErrIndeterminate", f, err)
		}
	}
	// Unreachable before anything was sent is not indeterminate.
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	s.Close()
	if err := b.SetPower(ctxT(t, time.Second), bmc.PowerActionOff); !errors.Is(err, bmc.ErrUnreachable) {
		t.Errorf("server gone: %v", err)
	}
}

func TestSetPowerContextEnds(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{ResetDelay: time.Hour})
	b := open(t, testConfig(s, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := b.SetPower(ctx, bmc.PowerActionOff)
	if !errors.Is(err, bmc.ErrIndeterminate) || !strings.Contains(err.Error(), "last read-back says unknown") {
		t.Fatalf("err = %v, want ErrIndeterminate with read-back unknown (PoweringOff)", err)
	}
}
