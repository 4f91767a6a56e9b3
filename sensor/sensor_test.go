package sensor_test

import (
	"errors"
	"math"
	"testing"

	"github.com/rackha/failover/sensor"
)

func TestLevel(t *testing.T) {
	th := sensor.Thresholds{LowerFatal: sensor.At(10), LowerCritical: sensor.At(10.8), LowerCaution: sensor.At(11.4),
		UpperCaution: sensor.At(12.6), UpperCritical: sensor.At(13.2), UpperFatal: sensor.At(14)}
	cases := map[float64]sensor.Level{12: sensor.LevelNormal, 11.4: sensor.LevelCaution, 10.8: sensor.LevelCritical,
		9: sensor.LevelFatal, 12.7: sensor.LevelCaution, 13.2: sensor.LevelCritical, 20: sensor.LevelFatal}
	for v, want := range cases {
		if got := th.Level(v); got != want {
			t.Errorf("Level(%v) = %v, want %v", v, got, want)
		}
	}
	if got := (sensor.Thresholds{}).Level(1e6); got != sensor.LevelNormal {
		t.Errorf("no thresholds: Level = %v, want normal", got)
	}
}

func TestValidateRefusesImpossibleReadings(t *testing.T) {
	bad := []sensor.Reading{
		{Name: "", Kind: sensor.KindVoltage},
		{Name: "v", Kind: sensor.KindVoltage, Value: math.NaN()},
		{Name: "v", Kind: sensor.KindVoltage, Value: math.Inf(1)},
		{Name: "t", Kind: sensor.KindTemperature, Value: -300},
		{Name: "t", Kind: sensor.KindTemperature, Value: 5000},
		{Name: "f", Kind: sensor.KindFan, Value: -1},
		{Name: "v", Kind: sensor.KindVoltage, Value: 12, Thresholds: sensor.Thresholds{UpperCritical: sensor.At(math.NaN())}},
		{Name: "t", Kind: sensor.KindTemperature, Value: 40, Thresholds: sensor.Thresholds{UpperCritical: sensor.At(1e300)}},
		{Name: "gone", Kind: sensor.KindFan, Status: sensor.StatusUnavailable, Thresholds: sensor.Thresholds{LowerFatal: sensor.At(-5)}},
		{Name: "o", Kind: sensor.KindOther, Value: 1e300},
	}
	for _, r := range bad {
		if err := r.Validate(); !errors.Is(err, sensor.ErrInvalidReading) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidReading", r, err)
		}
	}
	good := []sensor.Reading{
		{Name: "v", Kind: sensor.KindVoltage, Value: 12},
		{Name: "gone", Kind: sensor.KindTemperature, Status: sensor.StatusUnavailable, Value: math.NaN()},
		{Name: "o", Kind: sensor.KindOther, Value: 1e9},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", r, err)
		}
	}
}
