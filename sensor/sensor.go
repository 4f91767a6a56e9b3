// Package sensor describes the readings a BMC gives of one server: voltages,
// temperatures, fans, power and current, each with the thresholds the BMC
// itself declares. The failover engine judges a server by these readings, so
// a reading that is missing is marked unavailable, never reported as zero.
package sensor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Kind is what a sensor measures.
type Kind uint8

// Kinds of sensor.
const (
	KindOther Kind = iota
	KindVoltage
	KindTemperature
	KindPower
	KindFan
	KindCurrent
)

var kindNames = [...]string{"other", "voltage", "temperature", "power", "fan", "current"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Status says whether a reading holds a value.
type Status uint8

// Reading statuses.
const (
	// StatusOK: Value holds a current reading.
	StatusOK Status = iota
	// StatusUnavailable: the sensor exists but gave no value (absent
	// component, reading not yet initialised, scanning disabled). Value is 0
	// and must not be used.
	StatusUnavailable
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusUnavailable:
		return "unavailable"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Limit is one threshold; Set is false when the BMC declares none.
type Limit struct {
	Value float64
	Set   bool
}

// At returns a Limit set to v.
func At(v float64) Limit { return Limit{Value: v, Set: true} }

// Thresholds are the limits the BMC declares for a sensor, in the
// reading's unit. IPMI calls them non-critical, critical and
// non-recoverable; Redfish caution, critical and fatal.
type Thresholds struct {
	LowerFatal    Limit
	LowerCritical Limit
	LowerCaution  Limit
	UpperCaution  Limit
	UpperCritical Limit
	UpperFatal    Limit
}

// Level is how far a value is past its thresholds.
type Level uint8

// Levels, from normal to fatal.
const (
	LevelNormal Level = iota
	LevelCaution
	LevelCritical
	LevelFatal
)

var levelNames = [...]string{"normal", "caution", "critical", "fatal"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// Level returns the highest level whose threshold v has reached: a value
// equal to a threshold counts as reaching it.
func (t Thresholds) Level(v float64) Level {
	switch {
	case t.UpperFatal.Set && v >= t.UpperFatal.Value, t.LowerFatal.Set && v <= t.LowerFatal.Value:
		return LevelFatal
	case t.UpperCritical.Set && v >= t.UpperCritical.Value, t.LowerCritical.Set && v <= t.LowerCritical.Value:
		return LevelCritical
	case t.UpperCaution.Set && v >= t.UpperCaution.Value, t.LowerCaution.Set && v <= t.LowerCaution.Value:
		return LevelCaution
	}
	return LevelNormal
}

// Reading is one sensor's value at one time.
type Reading struct {
	Name       string
	Kind       Kind
	Value      float64
	Unit       string // "V", "C", "W", "RPM", "A" or the BMC's own
	Thresholds Thresholds
	Status     Status
	Time       time.Time
}

// ErrInvalidReading marks a reading no real sensor can give.
var ErrInvalidReading = errors.New("failover: invalid sensor reading")

// Plausible ranges per kind; anything outside is a decoding error or a
// broken sensor, not a measurement.
var plausible = map[Kind][2]float64{
	KindVoltage:     {-1000, 1000},
	KindTemperature: {-273.15, 1000},
	KindPower:       {-1e6, 1e6},
	KindFan:         {0, 1e6},
	KindCurrent:     {-1e4, 1e4},
	KindOther:       {-1e12, 1e12}, // percent, Hz, Pa, energy counters: far inside
}

// Validate reports a reading that cannot be a measurement: no name, NaN or
// infinite value or threshold, or a value or threshold outside what its
// kind allows.
// Unavailable readings are not checked for value.
func (r Reading) Validate() error {
	if r.Name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidReading)
	}
	for _, l := range [...]Limit{r.Thresholds.LowerFatal, r.Thresholds.LowerCritical, r.Thresholds.LowerCaution,
		r.Thresholds.UpperCaution, r.Thresholds.UpperCritical, r.Thresholds.UpperFatal} {
		if l.Set && (math.IsNaN(l.Value) || math.IsInf(l.Value, 0)) {
			return fmt.Errorf("%w: sensor %q: threshold %v", ErrInvalidReading, r.Name, l.Value)
		}
		if lim, ok := plausible[r.Kind]; ok && l.Set && (l.Value < lim[0] || l.Value > lim[1]) {
			return fmt.Errorf("%w: sensor %q: %s threshold %v %s outside [%v, %v]", ErrInvalidReading, r.Name, r.Kind, l.Value, r.Unit, lim[0], lim[1])
		}
	}
	if r.Status == StatusUnavailable {
		return nil
	}
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		return fmt.Errorf("%w: sensor %q: value %v", ErrInvalidReading, r.Name, r.Value)
	}
	if lim, ok := plausible[r.Kind]; ok && (r.Value < lim[0] || r.Value > lim[1]) {
		return fmt.Errorf("%w: sensor %q: %s %v %s outside [%v, %v]", ErrInvalidReading, r.Name, r.Kind, r.Value, r.Unit, lim[0], lim[1])
	}
	return nil
}

// Source gives all readings of one server.
//
// Readings must be safe to call from several goroutines. It returns an
// error wrapping bmc.ErrUnreachable when the BMC does not answer; a partial
// answer is returned with the missing sensors marked StatusUnavailable. The
// returned slice belongs to the caller.
type Source interface {
	Readings(ctx context.Context) ([]Reading, error)
}
