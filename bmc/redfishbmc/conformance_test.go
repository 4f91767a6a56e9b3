package redfishbmc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/bmctest"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/sensor/sensortest"
)

// setSensor sets the Reading of the Sensor resource named name.
func setSensor(s *redfishsim.Server, coll, name string, v float64) error {
	c, ok := s.Get(coll)
	if !ok {
		return fmt.Errorf("no collection %s", coll)
	}
	for _, m := range c["Members"].([]any) {
		p := m.(map[string]any)["@odata.id"].(string)
		r, _ := s.Get(p)
		if r["Name"] == name {
			return s.Set(p, map[string]any{"Reading": v})
		}
	}
	return fmt.Errorf("no sensor %q in %s", name, coll)
}

// setLegacy sets the entry named name in the Thermal or Power resources
// of chassis; PSU readings are named "<PSU> input voltage".
func setLegacy(s *redfishsim.Server, chassis, name string, v float64) error {
	for _, res := range []string{"/Thermal", "/Power"} {
		r, ok := s.Get(chassis + res)
		if !ok {
			continue
		}
		for array, field := range map[string]string{"Temperatures": "ReadingCelsius", "Voltages": "ReadingVolts", "PowerSupplies": "LineInputVoltage"} {
			entries, _ := r[array].([]any)
			for _, e := range entries {
				em := e.(map[string]any)
				n, _ := em["Name"].(string)
				if array == "PowerSupplies" {
					n += " input voltage"
				}
				if n == name {
					em[field] = v
					return s.Set(chassis+res, map[string]any{array: entries})
				}
			}
		}
	}
	return fmt.Errorf("no legacy entry %q under %s", name, chassis)
}

func unreachable(t *testing.T, dir, system string) *BMC {
	s, err := redfishsim.New(dir, redfishsim.Options{Username: testUser, Password: testPass})
	if err != nil {
		t.Fatal(err)
	}
	b := open(t, testConfig(s, system))
	s.Close()
	return b
}

func TestSensortestTower(t *testing.T) {
	dir := mockup(t, "public-tower")
	sensortest.Run(t, sensortest.Harness{
		Open: func(t *testing.T) sensortest.Fixture {
			s := startSim(t, dir, redfishsim.Options{})
			return sensortest.Fixture{Source: open(t, testConfig(s, "")), SetValue: func(name string, v float64) (float64, error) {
				return v, setSensor(s, "/redfish/v1/Chassis/Tower/Sensors", name, v)
			}}
		},
		Unreachable: func(t *testing.T) sensor.Source { return unreachable(t, dir, "") },
		Units:       map[sensor.Kind][]string{sensor.KindOther: nil},
	})
}

func TestSensortestBlade(t *testing.T) {
	dir := mockup(t, "public-bladed")
	sensortest.Run(t, sensortest.Harness{
		Open: func(t *testing.T) sensortest.Fixture {
			s := startSim(t, dir, redfishsim.Options{})
			return sensortest.Fixture{Source: open(t, testConfig(s, bladeSys)), SetValue: func(name string, v float64) (float64, error) {
				chassis := "/redfish/v1/Chassis/Blade1"
				if encl, rest, ok := strings.Cut(name, ": "); ok {
					chassis, name = "/redfish/v1/Chassis/"+encl, rest
				}
				return v, setLegacy(s, chassis, name, v)
			}}
		},
		Unreachable: func(t *testing.T) sensor.Source { return unreachable(t, dir, bladeSys) },
	})
}

func TestSensortestMini(t *testing.T) {
	sensortest.Run(t, sensortest.Harness{
		Open: func(t *testing.T) sensortest.Fixture {
			s := startSim(t, "testdata/mini", redfishsim.Options{})
			return sensortest.Fixture{Source: open(t, testConfig(s, "")), SetValue: func(name string, v float64) (float64, error) {
				return v, setSensor(s, "/redfish/v1/Chassis/1/Sensors", name, v)
			}}
		},
		Unreachable: func(t *testing.T) sensor.Source { return unreachable(t, "testdata/mini", "") },
	})
}

// The watchdog fixture passes the sensor suite too.
func TestSensortestWatchdogFixtures(t *testing.T) {
	t.Run("mini-watchdog", func(t *testing.T) {
		sensortest.Run(t, sensortest.Harness{
			Open: func(t *testing.T) sensortest.Fixture {
				s := startSim(t, "testdata/mini", redfishsim.Options{Overlays: []string{overlayWatchdogMini}})
				return sensortest.Fixture{Source: open(t, testConfig(s, "")), SetValue: func(name string, v float64) (float64, error) {
					return v, setSensor(s, "/redfish/v1/Chassis/1/Sensors", name, v)
				}}
			},
			Unreachable: func(t *testing.T) sensor.Source { return unreachable(t, "testdata/mini", "") },
		})
	})
	// tower-watchdog: the overlay adds no sensor, and TestSensortestTower
	// runs the tower's; bmctest runs it below.
}

func TestBmctest(t *testing.T) {
	for _, tc := range []struct {
		name, dir, system string
		overlays          []string
	}{
		{"tower", mockup(t, "public-tower"), "", nil},
		{"blade", mockup(t, "public-bladed"), blade2Sys, nil},
		{"mini", "testdata/mini", "", nil},
		{"mini-watchdog", "testdata/mini", "", []string{overlayWatchdogMini}},
		{"tower-watchdog", mockup(t, "public-tower"), "", []string{overlayWatchdogTower}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bmctest.Run(t, bmctest.Harness{
				Open: func(t *testing.T) bmctest.Fixture {
					s := startSim(t, tc.dir, redfishsim.Options{ResetDelay: 30 * time.Millisecond, Overlays: tc.overlays})
					b := open(t, testConfig(s, tc.system))
					return bmctest.Fixture{Power: b, Health: b,
						ReportStaleOff: func() error { return s.ReportStalePower(b.System().Path, "Off") },
						HostPower: func() (bmc.PowerState, error) {
							sys, ok := s.Get(b.System().Path)
							if !ok {
								return bmc.PowerUnknown, fmt.Errorf("no system %s", b.System().Path)
							}
							return powerState(fmt.Sprint(sys["PowerState"])), nil
						}}
				},
				Unreachable: func(t *testing.T) bmc.Power { return unreachable(t, tc.dir, tc.system) },
				Timeout:     5 * time.Second,
			})
		})
	}
}
