package simbmc_test

import (
	"github.com/rackha/failover/clock"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/bmctest"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/sensor/sensortest"
	"github.com/rackha/failover/watchdog"
	"github.com/rackha/failover/watchdog/watchdogtest"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newBMC(t *testing.T, cfg simbmc.Config) *simbmc.BMC {
	t.Helper()
	b, err := simbmc.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func unreachable(t *testing.T) *simbmc.BMC {
	b := newBMC(t, simbmc.DefaultConfig("gone"))
	b.SetUnreachable(true)
	return b
}

func TestSensorConformance(t *testing.T) {
	sensortest.Run(t, sensortest.Harness{
		Open: func(t *testing.T) sensortest.Fixture {
			b := newBMC(t, simbmc.DefaultConfig("blade-a"))
			if err := b.SetUnavailable("FAN1"); err != nil {
				t.Fatal(err)
			}
			return sensortest.Fixture{Source: b, SetValue: func(name string, v float64) (float64, error) {
				return v, b.SetValue(name, v)
			}}
		},
		Unreachable: func(t *testing.T) sensor.Source { return unreachable(t) },
	})
}

func TestClosedIsUnreachable(t *testing.T) {
	sensortest.Run(t, sensortest.Harness{
		Open: func(t *testing.T) sensortest.Fixture {
			return sensortest.Fixture{Source: newBMC(t, simbmc.DefaultConfig("blade-a"))}
		},
		Unreachable: func(t *testing.T) sensor.Source {
			b := newBMC(t, simbmc.DefaultConfig("closed"))
			b.Close()
			return b
		},
	})
}

func TestWatchdogConformanceManualClock(t *testing.T) {
	for _, action := range []watchdog.Action{watchdog.ActionNone, watchdog.ActionPowerDown, watchdog.ActionPowerCycle, watchdog.ActionHardReset} {
		t.Run(action.String(), func(t *testing.T) {
			watchdogtest.Run(t, watchdogtest.Harness{
				Open: func(t *testing.T) watchdogtest.Fixture {
					clk := clock.NewManual(epoch)
					cfg := simbmc.DefaultConfig("blade-a")
					cfg.Clock = clk
					return watchdogtest.Fixture{Watchdog: newBMC(t, cfg), Advance: clk.Advance}
				},
				Unreachable: func(t *testing.T) watchdog.Watchdog { return unreachable(t) },
				MinTimeout:  100 * time.Millisecond,
				Action:      action,
			})
		})
	}
}

func TestWatchdogConformanceRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps about 2 s")
	}
	watchdogtest.Run(t, watchdogtest.Harness{
		Open: func(t *testing.T) watchdogtest.Fixture {
			return watchdogtest.Fixture{Watchdog: newBMC(t, simbmc.DefaultConfig("blade-a"))}
		},
		Unreachable: func(t *testing.T) watchdog.Watchdog { return unreachable(t) },
		MinTimeout:  100 * time.Millisecond,
		Slack:       50 * time.Millisecond,
		Action:      watchdog.ActionPowerDown,
	})
}

func TestPowerConformance(t *testing.T) {
	bmctest.Run(t, bmctest.Harness{
		Open: func(t *testing.T) bmctest.Fixture {
			b := newBMC(t, simbmc.DefaultConfig("blade-a"))
			return bmctest.Fixture{Power: b, Health: b,
				ReportStaleOff: func() error { b.ReportStalePower(bmc.PowerOff); return nil },
				HostPower:      func() (bmc.PowerState, error) { return b.HostPower(), nil }}
		},
		Unreachable: func(t *testing.T) bmc.Power { return unreachable(t) },
	})
}
