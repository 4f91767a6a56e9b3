package simbmc

import (
	"errors"
	"fmt"
	"github.com/rackha/failover/clock"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

// ErrInvalidConfig marks a Config that Validate refuses.
var ErrInvalidConfig = errors.New("failover: invalid simbmc configuration")

// Config describes one simulated BMC.
type Config struct {
	// Name of the server, used in errors and event sources. Required.
	Name string
	// Clock drives the watchdog and stamps readings and events. Nil means
	// real time.
	Clock clock.Clock
	// Readings are the initial sensors with their thresholds, in the
	// order Readings reports them. Names must be unique and each must
	// Validate. Time is ignored (stamped at each read). Default:
	// DefaultReadings().
	Readings []sensor.Reading
	// OnPower is called whenever the server's power changes (fence,
	// power-on, cycle, watchdog action, LosePower), with the new state, so
	// a simulated hypervisor can lose its VMs. A cycle calls it with
	// PowerOff, then PowerOn. Called with the BMC's lock held: it must not
	// call this BMC. Nil means nobody is told.
	OnPower func(bmc.PowerState)
}

// DefaultConfig returns a Config for server name with DefaultReadings,
// real time and no OnPower.
func DefaultConfig(name string) Config {
	return Config{Name: name, Readings: DefaultReadings()}
}

// DefaultReadings returns the sensors of a typical two-socket blade: main
// rails, CPU and inlet temperatures, a fan and input power, with the
// thresholds such a BMC declares.
func DefaultReadings() []sensor.Reading {
	volt := func(name string, v float64) sensor.Reading {
		return sensor.Reading{Name: name, Kind: sensor.KindVoltage, Unit: "V", Value: v, Thresholds: sensor.Thresholds{
			LowerFatal: sensor.At(v * 0.85), LowerCritical: sensor.At(v * 0.9), LowerCaution: sensor.At(v * 0.95),
			UpperCaution: sensor.At(v * 1.05), UpperCritical: sensor.At(v * 1.1), UpperFatal: sensor.At(v * 1.15),
		}}
	}
	temp := func(name string, v, caution, critical, fatal float64) sensor.Reading {
		return sensor.Reading{Name: name, Kind: sensor.KindTemperature, Unit: "C", Value: v, Thresholds: sensor.Thresholds{
			UpperCaution: sensor.At(caution), UpperCritical: sensor.At(critical), UpperFatal: sensor.At(fatal),
		}}
	}
	return []sensor.Reading{
		volt("P12V", 12),
		volt("P5V", 5),
		volt("P3V3", 3.3),
		temp("CPU0 Temp", 55, 85, 95, 100),
		temp("CPU1 Temp", 54, 85, 95, 100),
		temp("Inlet Temp", 24, 40, 45, 50),
		{Name: "FAN1", Kind: sensor.KindFan, Unit: "RPM", Value: 6000, Thresholds: sensor.Thresholds{
			LowerCritical: sensor.At(1000), LowerCaution: sensor.At(1500)}},
		{Name: "PSU Input Power", Kind: sensor.KindPower, Unit: "W", Value: 350, Thresholds: sensor.Thresholds{
			UpperCritical: sensor.At(900)}},
	}
}

// Validate names the first field that is wrong.
func (c Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: Config.Name is empty", ErrInvalidConfig)
	}
	seen := map[string]bool{}
	for i, r := range c.Readings {
		if seen[r.Name] {
			return fmt.Errorf("%w: Config.Readings[%d]: name %q used twice", ErrInvalidConfig, i, r.Name)
		}
		seen[r.Name] = true
		if err := r.Validate(); err != nil {
			return fmt.Errorf("%w: Config.Readings[%d]: %v", ErrInvalidConfig, i, err)
		}
		if err := ordered(r.Thresholds); err != nil {
			return fmt.Errorf("%w: Config.Readings[%d] %q: %v", ErrInvalidConfig, i, r.Name, err)
		}
	}
	return nil
}

// ordered checks LowerFatal <= ... <= UpperFatal among the limits set.
func ordered(t sensor.Thresholds) error {
	ls := []struct {
		name string
		l    sensor.Limit
	}{
		{"LowerFatal", t.LowerFatal}, {"LowerCritical", t.LowerCritical}, {"LowerCaution", t.LowerCaution},
		{"UpperCaution", t.UpperCaution}, {"UpperCritical", t.UpperCritical}, {"UpperFatal", t.UpperFatal},
	}
	prev := -1
	for i, x := range ls {
		if !x.l.Set {
			continue
		}
		if prev >= 0 && ls[prev].l.Value > x.l.Value {
			return fmt.Errorf("threshold %s %v above %s %v", ls[prev].name, ls[prev].l.Value, x.name, x.l.Value)
		}
		prev = i
	}
	return nil
}
