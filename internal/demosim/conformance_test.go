package demosim_test

import (
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/bmctest"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/clock"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/hypervisortest"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/sensor/sensortest"
	"github.com/rackha/failover/watchdog"
	"github.com/rackha/failover/watchdog/watchdogtest"
)

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// unreachableBMC is a client of a served BMC that does not answer.
func unreachableBMC(t *testing.T) *simbmc.BMC {
	b := newSimBMC(t, simbmc.DefaultConfig("gone"))
	b.SetUnreachable(true)
	return b
}

func TestPowerConformance(t *testing.T) {
	open := func(t *testing.T) bmctest.Fixture {
		b, c, _ := servedBMC(t, simbmc.DefaultConfig("blade-a"))
		return bmctest.Fixture{Power: c, Health: c,
			ReportStaleOff: func() error { b.ReportStalePower(bmc.PowerOff); return nil },
			HostPower:      func() (bmc.PowerState, error) { return b.HostPower(), nil }}
	}
	t.Run("SimulatorUnreachable", func(t *testing.T) {
		bmctest.Run(t, bmctest.Harness{Open: open, Unreachable: func(t *testing.T) bmc.Power {
			b, c, _ := servedBMC(t, simbmc.DefaultConfig("gone"))
			b.SetUnreachable(true)
			return c
		}})
	})
	t.Run("ServerGone", func(t *testing.T) {
		bmctest.Run(t, bmctest.Harness{Open: open, Unreachable: func(t *testing.T) bmc.Power {
			return bmcClient(t, deadSocket(t), "gone")
		}})
	})
}

func TestSensorConformance(t *testing.T) {
	sensortest.Run(t, sensortest.Harness{
		Open: func(t *testing.T) sensortest.Fixture {
			b, c, _ := servedBMC(t, simbmc.DefaultConfig("blade-a"))
			if err := b.SetUnavailable("FAN1"); err != nil {
				t.Fatal(err)
			}
			return sensortest.Fixture{Source: c, SetValue: func(name string, v float64) (float64, error) {
				return v, b.SetValue(name, v)
			}}
		},
		Unreachable: func(t *testing.T) sensor.Source {
			b := unreachableBMC(t)
			return bmcClient(t, serve(t, map[string]*simbmc.BMC{"gone": b}, nil), "gone")
		},
	})
}

func TestWatchdogConformance(t *testing.T) {
	for _, action := range []watchdog.Action{watchdog.ActionNone, watchdog.ActionPowerDown, watchdog.ActionPowerCycle, watchdog.ActionHardReset} {
		t.Run(action.String(), func(t *testing.T) {
			watchdogtest.Run(t, watchdogtest.Harness{
				Open: func(t *testing.T) watchdogtest.Fixture {
					clk := clock.NewManual(epoch)
					cfg := simbmc.DefaultConfig("blade-a")
					cfg.Clock = clk
					_, c, _ := servedBMC(t, cfg)
					return watchdogtest.Fixture{Watchdog: c, Advance: clk.Advance}
				},
				Unreachable: func(t *testing.T) watchdog.Watchdog {
					b := unreachableBMC(t)
					return bmcClient(t, serve(t, map[string]*simbmc.BMC{"gone": b}, nil), "gone")
				},
				MinTimeout: 100 * time.Millisecond,
				Action:     action,
			})
		})
	}
}

// The in-band watchdog answers while the BMC's network does not; it is
// unreachable once the serving process is gone.
func TestInBandWatchdogConformance(t *testing.T) {
	watchdogtest.Run(t, watchdogtest.Harness{
		Open: func(t *testing.T) watchdogtest.Fixture {
			clk := clock.NewManual(epoch)
			cfg := simbmc.DefaultConfig("blade-a")
			cfg.Clock = clk
			b, _, path := servedBMC(t, cfg)
			b.SetUnreachable(true) // the LAN is down; in-band still works
			return watchdogtest.Fixture{Watchdog: inBandClient(t, path, "blade-a"), Advance: clk.Advance}
		},
		Unreachable: func(t *testing.T) watchdog.Watchdog { return inBandClient(t, deadSocket(t), "gone") },
		MinTimeout:  100 * time.Millisecond,
		Action:      watchdog.ActionPowerDown,
	})
}

func TestWatchdogConformanceRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps about 2 s")
	}
	watchdogtest.Run(t, watchdogtest.Harness{
		Open: func(t *testing.T) watchdogtest.Fixture {
			_, c, _ := servedBMC(t, simbmc.DefaultConfig("blade-a"))
			return watchdogtest.Fixture{Watchdog: c}
		},
		Unreachable: func(t *testing.T) watchdog.Watchdog { return bmcClient(t, deadSocket(t), "gone") },
		MinTimeout:  100 * time.Millisecond,
		Slack:       50 * time.Millisecond,
		Action:      watchdog.ActionPowerDown,
	})
}

func image(name string) imagestore.Image {
	return imagestore.Image{Name: name, Owner: "blade-a", Generation: 1, Definition: []byte("<vm " + name + ">"),
		Disks: []string{"/shared/" + name + ".qcow2"}, MemoryMiB: 1024, CPUs: 2}
}

func TestHypervisorConformance(t *testing.T) {
	open := func(t *testing.T) hypervisortest.Fixture {
		st := memhv.NewStorage()
		a, b := memhv.DefaultConfig("blade-a"), memhv.DefaultConfig("blade-b")
		a.Storage, b.Storage = st, st
		path := serve(t, nil, map[string]*memhv.Hypervisor{"blade-a": newMemHV(t, a), "blade-b": newMemHV(t, b)})
		return hypervisortest.Fixture{
			HV:       hvClient(t, path, "blade-a"),
			Peer:     hvClient(t, path, "blade-b"),
			NewImage: image,
			BadImage: func(name string) imagestore.Image {
				img := image(name)
				img.Definition = nil
				return img
			},
		}
	}
	t.Run("SimulatorUnreachable", func(t *testing.T) {
		hypervisortest.Run(t, hypervisortest.Harness{Open: open, EnforcesCapacity: true,
			Unreachable: func(t *testing.T) hypervisor.Hypervisor {
				h := newMemHV(t, memhv.DefaultConfig("gone"))
				h.SetUnreachable(true)
				return hvClient(t, serve(t, nil, map[string]*memhv.Hypervisor{"gone": h}), "gone")
			}})
	})
	t.Run("ServerGone", func(t *testing.T) {
		hypervisortest.Run(t, hypervisortest.Harness{Open: open, EnforcesCapacity: true,
			Unreachable: func(t *testing.T) hypervisor.Hypervisor { return hvClient(t, deadSocket(t), "gone") }})
	})
}
