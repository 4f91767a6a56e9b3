package failover

import (
	"math"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
)

// Causes in priority order: when several hold, the first names the failure.
// A watchdog that expired usually also powered the server down, so it comes
// before no-power.
var causeOrder = [...]Cause{CauseWatchdog, CauseNoPower, CauseBladeFault, CauseTemperature, CauseVoltage}

const numCauses = len(causeOrder)

// hit is the sensor that made a voltage or temperature condition hold.
type hit struct {
	name      string
	value     float64
	unit      string
	threshold float64
}

// judge returns which causes hold in st, updating the per-sensor danger
// states (hysteresis) in danger. It does not allocate once every sensor
// has been seen.
func (e *Engine) judge(st *rack.Status, danger map[string]bool) (held [numCauses]bool, hits [numCauses]hit) {
	h := st.Health
	if st.HealthErr == "" {
		held[1] = h.Power == bmc.PowerOff || h.MainPowerFault
		held[2] = h.Fault || h.PowerFault || h.Overload || h.Interlock
	}
	held[0] = st.WatchdogKnown && st.Watchdog.Expired
	volts, zero := 0, 0
	for i := range st.Readings {
		r := &st.Readings[i]
		if r.Status != sensor.StatusOK {
			continue
		}
		var c int
		switch r.Kind {
		case sensor.KindTemperature:
			c = 3
		case sensor.KindVoltage:
			c = 4
			volts++
			if math.Abs(r.Value) < e.p.ZeroVolts {
				zero++
			}
		default:
			continue
		}
		t := &r.Thresholds
		if len(e.p.Overrides) > 0 {
			if o, ok := e.p.Overrides[r.Name]; ok {
				t = &o
			}
		}
		was := danger[r.Name]
		in, thr := e.inDanger(t, r.Value, was)
		if in != was {
			if in {
				danger[r.Name] = true
			} else {
				delete(danger, r.Name)
			}
		}
		if in && !held[c] {
			held[c] = true
			hits[c] = hit{name: r.Name, value: r.Value, unit: r.Unit, threshold: thr}
		}
	}
	if volts > 0 && zero == volts {
		held[1] = true
	}
	return held, hits
}

// inDanger applies the danger level and, for a sensor already in danger,
// the hysteresis band. It returns the threshold concerned.
func (e *Engine) inDanger(t *sensor.Thresholds, v float64, was bool) (bool, float64) {
	up, lo := dangerLimits(t, e.p.DangerLevel)
	if up.Set && v >= up.Value {
		return true, up.Value
	}
	if lo.Set && v <= lo.Value {
		return true, lo.Value
	}
	if !was {
		return false, 0
	}
	if up.Set && v >= up.Value-e.p.Hysteresis*math.Abs(up.Value) {
		return true, up.Value
	}
	if lo.Set && v <= lo.Value+e.p.Hysteresis*math.Abs(lo.Value) {
		return true, lo.Value
	}
	return false, 0
}

// dangerLimits returns the nearest upper and lower thresholds at or above
// level.
func dangerLimits(t *sensor.Thresholds, level sensor.Level) (up, lo sensor.Limit) {
	switch {
	case level <= sensor.LevelCaution && t.UpperCaution.Set:
		up = t.UpperCaution
	case level <= sensor.LevelCritical && t.UpperCritical.Set:
		up = t.UpperCritical
	default:
		up = t.UpperFatal
	}
	switch {
	case level <= sensor.LevelCaution && t.LowerCaution.Set:
		lo = t.LowerCaution
	case level <= sensor.LevelCritical && t.LowerCritical.Set:
		lo = t.LowerCritical
	default:
		lo = t.LowerFatal
	}
	return up, lo
}
