package telemetry

import (
	"fmt"
	"math"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// FromStatus is st as a Record of this Format (a rack manager's
// journal line). Target is the server's name.
func FromStatus(st rack.Status) Record {
	r := Record{Format: Format, Time: st.Time, Server: st.Server, Target: st.Server, Fast: st.Fast,
		Readings: []Reading{}, RackFailed: st.RackFailed, RackSize: st.RackSize}
	if !st.Reachable {
		r.Unreachable, r.Error = true, st.Err
		r.Failures = append(r.Failures, "unreachable")
	}
	for _, rd := range st.Readings {
		r.Readings = append(r.Readings, FromReading(rd))
	}
	if st.ReadingsErr != "" {
		r.ReadingsErr = st.ReadingsErr
		r.Failures = append(r.Failures, "readings read failed")
	}
	if st.HealthErr != "" {
		r.HealthErr = st.HealthErr
		r.Failures = append(r.Failures, "health read failed")
	} else if st.Reachable {
		r.Health = FromHealth(st.Health)
		r.Power = st.Health.Power.String()
		if why := HealthFailures(st.Health); why != "" {
			r.Failures = append(r.Failures, "health failed: "+why)
		}
	}
	switch {
	case st.WatchdogErr != "":
		r.WatchdogErr = st.WatchdogErr
		r.Failures = append(r.Failures, "watchdog read failed")
	case st.WatchdogKnown:
		w := st.Watchdog
		r.Watchdog = &Watchdog{Running: w.Running, Expired: w.Expired, Timeout: w.Timeout.Seconds(),
			Remaining: w.Remaining.Seconds(), Action: w.Action.String()}
		if w.Expired {
			r.Failures = append(r.Failures, "watchdog expired")
		}
	case !st.Fast:
		r.NotOffered = append(r.NotOffered, "watchdog")
	}
	r.OK = len(r.Failures) == 0
	return r
}

// Status is r as the engine sees a status: what rack.Local would have
// delivered for this poll. A reading no sensor can give (see
// sensor.Reading.Validate) is unavailable, as rack.Local makes it. An
// error names the field that is wrong; it wraps ErrMalformed.
func (r Record) Status() (rack.Status, error) {
	st := rack.Status{Server: r.Server, Time: r.Time, Reachable: !r.Unreachable, Err: r.Error,
		ReadingsErr: r.ReadingsErr, HealthErr: r.HealthErr, WatchdogErr: r.WatchdogErr, Fast: r.Fast,
		RackFailed: r.RackFailed, RackSize: r.RackSize}
	if st.Server == "" {
		st.Server = r.Target
	}
	if st.Server == "" {
		return st, fmt.Errorf("%w: server: empty (and no target)", ErrMalformed)
	}
	if r.Time.IsZero() {
		return st, fmt.Errorf("%w: time: missing", ErrMalformed)
	}
	if r.Unreachable && st.Err == "" {
		st.Err = bmc.ErrUnreachable.Error()
	}
	for i, j := range r.Readings {
		rd, err := j.reading(r.Time)
		if err != nil {
			return st, fmt.Errorf("%w: readings[%d] (%q): %v", ErrMalformed, i, j.Name, err)
		}
		st.Readings = append(st.Readings, rd)
	}
	if r.Health != nil {
		h, err := r.Health.health()
		if err != nil {
			return st, fmt.Errorf("%w: health: %v", ErrMalformed, err)
		}
		st.Health = h
	} else if r.Power != "" {
		p, err := parsePower(r.Power)
		if err != nil {
			return st, fmt.Errorf("%w: power: %v", ErrMalformed, err)
		}
		st.Health.Power = p
	}
	if st.HealthErr == "" && r.Health == nil {
		st.HealthErr = r.PowerErr // as rack.Local reads power without a HealthReader
	}
	if r.Watchdog != nil {
		w, err := r.Watchdog.state()
		if err != nil {
			return st, fmt.Errorf("%w: watchdog: %v", ErrMalformed, err)
		}
		st.Watchdog, st.WatchdogKnown = w, true
	}
	return st, nil
}

func (j Reading) reading(at time.Time) (sensor.Reading, error) {
	rd := sensor.Reading{Name: j.Name, Unit: j.Unit, Time: at}
	var ok bool
	if rd.Kind, ok = parseName(j.Kind, []sensor.Kind{sensor.KindOther, sensor.KindVoltage, sensor.KindTemperature,
		sensor.KindPower, sensor.KindFan, sensor.KindCurrent}); !ok {
		return rd, fmt.Errorf("kind %q: want other, voltage, temperature, power, fan or current", j.Kind)
	}
	switch j.Status {
	case "ok":
		if j.Value == nil {
			return rd, fmt.Errorf("status ok without a value")
		}
		rd.Value = *j.Value
	case "unavailable":
		rd.Status = sensor.StatusUnavailable
	default:
		return rd, fmt.Errorf("status %q: want ok or unavailable", j.Status)
	}
	for name, v := range j.Thresholds {
		found := false
		for i, l := range limits(&rd.Thresholds) {
			if ThresholdNames[i] == name {
				*l, found = sensor.At(v), true
			}
		}
		if !found {
			return rd, fmt.Errorf("threshold %q: want one of %v", name, ThresholdNames)
		}
	}
	if rd.Status == sensor.StatusOK && rd.Validate() != nil {
		rd.Status, rd.Value = sensor.StatusUnavailable, 0 // no evidence either way, as rack.Local
	}
	return rd, nil
}

func (j Health) health() (bmc.Health, error) {
	p, err := parsePower(j.Power)
	if err != nil {
		return bmc.Health{}, fmt.Errorf("power: %v", err)
	}
	h := bmc.Health{Power: p, PowerFault: j.PowerFault, MainPowerFault: j.MainPowerFault, Overload: j.Overload,
		Interlock: j.Interlock, Fault: j.Fault, Detail: j.Detail}
	for i, e := range j.Events {
		sev, ok := parseName(e.Severity, []bmc.Severity{bmc.SeverityInfo, bmc.SeverityWarning, bmc.SeverityCritical})
		if !ok {
			return h, fmt.Errorf("events[%d].severity %q: want info, warning or critical", i, e.Severity)
		}
		ev := bmc.Event{Source: e.Source, Message: e.Message, Severity: sev}
		if e.Kind == string(bmc.EventCorrectableECC) {
			ev.Kind = bmc.EventCorrectableECC // other kinds: from a later format, ignored
		}
		if e.Time != nil {
			ev.Time = *e.Time
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

func (j Watchdog) state() (watchdog.State, error) {
	a, ok := parseName(j.Action, []watchdog.Action{watchdog.ActionNone, watchdog.ActionHardReset,
		watchdog.ActionPowerDown, watchdog.ActionPowerCycle})
	if !ok {
		return watchdog.State{}, fmt.Errorf("action %q: want none, hard-reset, power-down or power-cycle", j.Action)
	}
	timeout, err := seconds("timeout_seconds", j.Timeout)
	if err != nil {
		return watchdog.State{}, err
	}
	remaining, err := seconds("remaining_seconds", j.Remaining)
	if err != nil {
		return watchdog.State{}, err
	}
	return watchdog.State{Running: j.Running, Expired: j.Expired, Timeout: timeout, Remaining: remaining, Action: a}, nil
}

// seconds converts a recorded count of seconds, refusing what no
// watchdog holds (negative, or past a year).
func seconds(field string, v float64) (time.Duration, error) {
	if math.IsNaN(v) || v < 0 || v > 365*24*3600 {
		return 0, fmt.Errorf("%s %v: want 0 to one year", field, v)
	}
	return time.Duration(v * float64(time.Second)), nil
}

func parsePower(s string) (bmc.PowerState, error) {
	p, ok := parseName(s, []bmc.PowerState{bmc.PowerUnknown, bmc.PowerOn, bmc.PowerOff})
	if !ok {
		return p, fmt.Errorf("%q: want on, off or unknown", s)
	}
	return p, nil
}

// parseName finds the value among all whose String is s.
func parseName[T fmt.Stringer](s string, all []T) (T, bool) {
	for _, v := range all {
		if v.String() == s {
			return v, true
		}
	}
	var zero T
	return zero, false
}
