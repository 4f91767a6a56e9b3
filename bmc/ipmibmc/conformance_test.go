package ipmibmc

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/bmctest"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/sensor/sensortest"
	"github.com/rackha/failover/watchdog"
	"github.com/rackha/failover/watchdog/watchdogtest"
)

// unreachable returns an adapter for a loopback UDP port nobody listens on.
func unreachable(t *testing.T) *BMC {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	cfg := DefaultConfig("127.0.0.1", "admin", "secret")
	cfg.Port, cfg.CipherSuite, cfg.Timeout = port, 3, 500*time.Millisecond
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestSensorConformance(t *testing.T) {
	needSim(t)
	sensortest.Run(t, sensortest.Harness{
		Open: func(t *testing.T) sensortest.Fixture {
			s := startSim(t, ipmisim.Config{})
			b := open(t, s)
			return sensortest.Fixture{
				Source: b,
				SetValue: func(name string, v float64) (float64, error) {
					for _, sn := range s.Sensors() {
						if sn.Name == name {
							raw := sn.RawFor(v)
							return sn.Value(raw), s.SetRaw(sn.Number, raw)
						}
					}
					return 0, fmt.Errorf("no sensor %q", name)
				},
			}
		},
		Unreachable: func(t *testing.T) sensor.Source { return unreachable(t) },
		Tolerance:   1e-9,
	})
}

func TestWatchdogConformance(t *testing.T) {
	needSim(t)
	watchdogtest.Run(t, watchdogtest.Harness{
		Open: func(t *testing.T) watchdogtest.Fixture {
			// A fresh ipmi_sim per check: its watchdog starts never-armed.
			s := startSim(t, ipmisim.Config{PoweredOn: true})
			cfg := simConfig(s)
			// ipmi_sim 2.0.33 loses kicks without a pre-timeout action
			// (see Config.WatchdogPretimeout), and with one it expires at
			// once when a pre-timeout finds less than 1 s left: hence a
			// 3 s timeout, kicked every second by the suite.
			cfg.WatchdogPretimeout = true
			b, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return watchdogtest.Fixture{Watchdog: b}
		},
		Unreachable: func(t *testing.T) watchdog.Watchdog { return unreachable(t) },
		MinTimeout:  3 * time.Second,
		// ipmi_sim does not count down with action "none".
		Action: watchdog.ActionPowerDown,
	})
}

func TestPowerConformance(t *testing.T) {
	needSim(t)
	bmctest.Run(t, bmctest.Harness{
		Open: func(t *testing.T) bmctest.Fixture {
			// Power goes through the chassis script, so the BMC can be
			// made to report off while the power child (the host) runs.
			s := startSim(t, ipmisim.Config{PoweredOn: true, ChassisScript: true})
			b := open(t, s)
			return bmctest.Fixture{Power: b, Health: b,
				ReportStaleOff: s.ReportStaleOff,
				HostPower: func() (bmc.PowerState, error) {
					if s.PowerChild() != 0 {
						return bmc.PowerOn, nil
					}
					return bmc.PowerOff, nil
				}}
		},
		Unreachable: func(t *testing.T) bmc.Power { return unreachable(t) },
		Timeout:     15 * time.Second,
	})
}
