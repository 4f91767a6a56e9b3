package simbmc_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/rackha/failover/clock"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// manual returns a BMC on a manual clock and the power changes it reports.
func manual(t *testing.T) (*simbmc.BMC, *clock.Manual, *[]bmc.PowerState) {
	t.Helper()
	clk := clock.NewManual(epoch)
	var calls []bmc.PowerState
	cfg := simbmc.DefaultConfig("blade-a")
	cfg.Clock = clk
	cfg.OnPower = func(p bmc.PowerState) { calls = append(calls, p) }
	return newBMC(t, cfg), clk, &calls
}

func power(t *testing.T, b *simbmc.BMC) bmc.PowerState {
	t.Helper()
	p, err := b.PowerState(context.Background())
	if err != nil {
		t.Fatalf("PowerState: %v", err)
	}
	return p
}

func health(t *testing.T, b *simbmc.BMC) bmc.Health {
	t.Helper()
	h, err := b.Health(context.Background())
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	return h
}

func TestWatchdogPowerDownAppliedOnceAtDeadline(t *testing.T) {
	b, clk, calls := manual(t)
	ctx := context.Background()
	if err := b.Arm(ctx, 10*time.Second, watchdog.ActionPowerDown); err != nil {
		t.Fatal(err)
	}
	clk.Advance(9 * time.Second)
	b.Sync()
	if len(*calls) != 0 || power(t, b) != bmc.PowerOn {
		t.Fatalf("power changed before the timeout: %v", *calls)
	}
	clk.Advance(25 * time.Second) // well past the deadline: applied once
	b.Sync()
	b.Sync()
	if d := cmp.Diff([]bmc.PowerState{bmc.PowerOff}, *calls); d != "" {
		t.Fatalf("OnPower calls (-want +got):\n%s", d)
	}
	h := health(t, b)
	if h.Power != bmc.PowerOff || !h.Failed() {
		t.Fatalf("Health after power-down expiry: %+v", h)
	}
	var wdEvent *bmc.Event
	for i, e := range h.Events {
		if e.Source == "watchdog" {
			wdEvent = &h.Events[i]
		}
	}
	if wdEvent == nil || !wdEvent.Time.Equal(epoch.Add(10*time.Second)) || wdEvent.Severity != bmc.SeverityCritical {
		t.Fatalf("watchdog event = %+v, want a critical one at the deadline %v", wdEvent, epoch.Add(10*time.Second))
	}
	if h2 := health(t, b); len(h2.Events) != 0 {
		t.Fatalf("events not drained by Health: %+v", h2.Events)
	}
	s, _ := b.State(ctx)
	if !s.Expired || s.Running || s.Remaining != 0 {
		t.Fatalf("State after expiry: %+v", s)
	}
}

func TestWatchdogCycleAndReset(t *testing.T) {
	for _, a := range []watchdog.Action{watchdog.ActionPowerCycle, watchdog.ActionHardReset} {
		t.Run(a.String(), func(t *testing.T) {
			b, clk, calls := manual(t)
			if err := b.Arm(context.Background(), time.Second, a); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Second)
			b.Sync()
			if d := cmp.Diff([]bmc.PowerState{bmc.PowerOff, bmc.PowerOn}, *calls); d != "" {
				t.Fatalf("OnPower calls (-want +got):\n%s", d)
			}
			if power(t, b) != bmc.PowerOn {
				t.Fatal("not on after the cycle")
			}
		})
	}
}

func TestWatchdogCountsWhileUnreachable(t *testing.T) {
	b, clk, calls := manual(t)
	if err := b.Arm(context.Background(), time.Second, watchdog.ActionPowerDown); err != nil {
		t.Fatal(err)
	}
	b.SetUnreachable(true)
	clk.Advance(2 * time.Second)
	b.Sync()
	if len(*calls) != 1 {
		t.Fatalf("expiry while the BMC is unreachable: OnPower calls %v, want one off", *calls)
	}
	if _, err := b.State(context.Background()); !errors.Is(err, bmc.ErrUnreachable) {
		t.Fatalf("State while unreachable: %v", err)
	}
	b.SetUnreachable(false)
	if s, _ := b.State(context.Background()); !s.Expired {
		t.Fatalf("State once reachable: %+v, want Expired", s)
	}
}

func TestPowerOffStopsWatchdog(t *testing.T) {
	b, clk, calls := manual(t)
	ctx := context.Background()
	if err := b.Arm(ctx, time.Second, watchdog.ActionPowerCycle); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPower(ctx, bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if s, _ := b.State(ctx); s.Running || s.Expired {
		t.Fatalf("watchdog of a powered-off server: %+v, want stopped", s)
	}
	if d := cmp.Diff([]bmc.PowerState{bmc.PowerOff}, *calls); d != "" {
		t.Fatalf("OnPower calls (-want +got):\n%s", d)
	}
	if err := b.Kick(ctx); err != nil { // the restarted OS kicks again
		t.Fatalf("Kick after power-off: %v", err)
	}
}

func TestLosePower(t *testing.T) {
	b, _, calls := manual(t)
	ctx := context.Background()
	b.LosePower()
	rs, err := b.Readings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Kind == sensor.KindVoltage && r.Value != 0 {
			t.Errorf("%s reads %v with main power lost, want 0", r.Name, r.Value)
		}
		if r.Kind == sensor.KindTemperature && r.Value == 0 {
			t.Errorf("%s reads 0: only voltages drop", r.Name)
		}
	}
	h := health(t, b)
	if h.Power != bmc.PowerOff || !h.MainPowerFault || !h.Failed() {
		t.Fatalf("Health with main power lost: %+v", h)
	}
	if err := b.SetPower(ctx, bmc.PowerActionOff); err != nil {
		t.Fatalf("fence of a server without power: %v, want nil (already off)", err)
	}
	if err := b.SetPower(ctx, bmc.PowerActionCycle); !errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("cycle without main power: %v, want ErrIndeterminate", err)
	}
	b.RestorePower()
	if power(t, b) != bmc.PowerOff {
		t.Fatal("RestorePower powered the server on")
	}
	if err := b.SetPower(ctx, bmc.PowerActionCycle); err != nil {
		t.Fatalf("cycle after RestorePower: %v", err)
	}
	rs, _ = b.Readings(ctx)
	if rs[0].Value != 12 {
		t.Fatalf("P12V after power restored: %v", rs[0].Value)
	}
	if d := cmp.Diff([]bmc.PowerState{bmc.PowerOff, bmc.PowerOn}, *calls); d != "" {
		t.Fatalf("OnPower calls (-want +got):\n%s", d)
	}
}

func TestFailPower(t *testing.T) {
	b, _, calls := manual(t)
	ctx := context.Background()
	lost := fmt.Errorf("answer lost: %w", bmc.ErrIndeterminate)

	b.FailPower(lost)
	if err := b.SetPower(ctx, bmc.PowerActionOff); !errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("SetPower with FailPower: %v", err)
	}
	if power(t, b) != bmc.PowerOn || len(*calls) != 0 {
		t.Fatal("FailPower carried the action out")
	}

	b.FailPowerApplied(lost)
	if err := b.SetPower(ctx, bmc.PowerActionOff); !errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("SetPower with FailPowerApplied: %v", err)
	}
	if power(t, b) != bmc.PowerOff || len(*calls) != 1 {
		t.Fatal("FailPowerApplied did not carry the action out")
	}

	b.FailPower(nil)
	if err := b.SetPower(ctx, bmc.PowerActionOn); err != nil {
		t.Fatalf("SetPower after FailPower(nil): %v", err)
	}
}

func TestFaultAndEvents(t *testing.T) {
	b, _, _ := manual(t)
	b.SetFault(true, "CPU IERR")
	h := health(t, b)
	if !h.Fault || h.Detail != "CPU IERR" || !h.Failed() || len(h.Events) != 1 {
		t.Fatalf("Health with a fault: %+v", h)
	}
	b.SetFault(false, "")
	if h := health(t, b); h.Fault || h.Detail != "" || h.Failed() {
		t.Fatalf("Health after the fault cleared: %+v", h)
	}
	if err := b.SetValue("CPU0 Temp", 96); err != nil {
		t.Fatal(err)
	}
	h = health(t, b)
	if len(h.Events) != 1 || h.Events[0].Source != "CPU0 Temp" || h.Events[0].Severity != bmc.SeverityCritical {
		t.Fatalf("threshold crossing events: %+v", h.Events)
	}
}

func TestSetValueRefusesAbsurd(t *testing.T) {
	b, _, _ := manual(t)
	for _, v := range []float64{math.NaN(), math.Inf(1), 5000} {
		if err := b.SetValue("P12V", v); !errors.Is(err, sensor.ErrInvalidReading) {
			t.Errorf("SetValue(P12V, %v): %v, want ErrInvalidReading", v, err)
		}
	}
	if err := b.SetValue("nope", 1); !errors.Is(err, sensor.ErrInvalidReading) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("SetValue of unknown sensor: %v", err)
	}
	rs, _ := b.Readings(context.Background())
	if rs[0].Value != 12 {
		t.Fatalf("a refused SetValue changed P12V to %v", rs[0].Value)
	}
}

func TestConfigValidate(t *testing.T) {
	good := simbmc.DefaultConfig("x")
	if err := good.Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	dup := simbmc.DefaultConfig("x")
	dup.Readings = append(dup.Readings, dup.Readings[0])
	disordered := simbmc.DefaultConfig("x")
	disordered.Readings[0].Thresholds.UpperCaution = sensor.At(20)
	nan := simbmc.DefaultConfig("x")
	nan.Readings[1].Value = math.NaN()
	cases := map[string]struct {
		cfg  simbmc.Config
		want string
	}{
		"no name":    {simbmc.Config{}, "Config.Name"},
		"duplicate":  {dup, `Config.Readings[8]: name "P12V" used twice`},
		"disordered": {disordered, "UpperCaution 20 above UpperCritical"},
		"NaN":        {nan, "Config.Readings[1]"},
	}
	for name, c := range cases {
		_, err := simbmc.New(c.cfg)
		if !errors.Is(err, simbmc.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New error %v, want ErrInvalidConfig naming %q", name, err, c.want)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	b, _, _ := manual(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.SetPower(ctx, bmc.PowerActionOff); !errors.Is(err, context.Canceled) {
		t.Fatalf("SetPower with cancelled ctx: %v", err)
	}
	if power(t, b) != bmc.PowerOn {
		t.Fatal("cancelled SetPower changed power")
	}
}

func Example() {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg := simbmc.DefaultConfig("blade-a")
	cfg.Clock = clk
	cfg.OnPower = func(p bmc.PowerState) { fmt.Println("power", p) }
	b, _ := simbmc.New(cfg)
	ctx := context.Background()

	_ = b.Arm(ctx, 30*time.Second, watchdog.ActionPowerDown)
	clk.Advance(20 * time.Second)
	_ = b.Kick(ctx)
	clk.Advance(29 * time.Second)
	s, _ := b.State(ctx)
	fmt.Println("expired:", s.Expired, "remaining:", s.Remaining)

	clk.Advance(time.Second) // the OS hung: no more kicks
	b.Sync()
	h, _ := b.Health(ctx)
	fmt.Println("failed:", h.Failed())
	// Output:
	// expired: false remaining: 1s
	// power off
	// failed: true
}
