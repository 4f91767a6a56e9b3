package telemetry

import (
	"errors"
	"strings"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

// Format is the value of every line's "format" field.
const Format = "rackha-telemetry/1"

// ErrMalformed marks a line that is not a Record of this Format.
var ErrMalformed = errors.New("telemetry: malformed record")

// Record is one poll of one server's BMC: what bmcstat -json prints for
// one target, plus Format, Time and Server. Each role (readings, health,
// power, watchdog) is either read (its field set), failed (its _error
// field set, and a Failures entry) or not offered (named in NotOffered).
type Record struct {
	// Format is Format on a recorded line; empty in bmcstat's one-shot
	// -json output.
	Format string `json:"format,omitempty"`
	// Time is when the poll started.
	Time time.Time `json:"time,omitzero"`
	// Server is the server's name in the rack.
	Server string `json:"server,omitempty"`
	// Target names the BMC as the poller reached it ("ipmi 10.0.0.5:623").
	Target string `json:"target"`
	// OK: every offered role was read and none reports a failure.
	OK bool `json:"ok"`
	// Unreachable: the BMC answered none of the reads; Error says why.
	Unreachable bool   `json:"unreachable,omitempty"`
	Error       string `json:"error,omitempty"`
	// Fast: only health was read (a rack manager's fast poll).
	Fast        bool      `json:"fast,omitempty"`
	Failures    []string  `json:"failures,omitempty"`
	NotOffered  []string  `json:"not_offered,omitempty"`
	Readings    []Reading `json:"readings"`
	ReadingsErr string    `json:"readings_error,omitempty"`
	Health      *Health   `json:"health,omitempty"`
	HealthErr   string    `json:"health_error,omitempty"`
	Power       string    `json:"power,omitempty"`
	PowerErr    string    `json:"power_error,omitempty"`
	Watchdog    *Watchdog `json:"watchdog,omitempty"`
	WatchdogErr string    `json:"watchdog_error,omitempty"`
	// RackFailed and RackSize: the rack manager's storm guard input
	// (rack.Status); absent from bmcstat's records.
	RackFailed int `json:"rack_failed,omitempty"`
	RackSize   int `json:"rack_size,omitempty"`
}

// Reading is one sensor reading.
type Reading struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`   // sensor.Kind's name
	Status string `json:"status"` // "ok" or "unavailable"
	// Value is absent when unavailable.
	Value *float64 `json:"value,omitempty"`
	Unit  string   `json:"unit"`
	// Level is the value's level against Thresholds, for people; the
	// reader judges the value itself.
	Level string `json:"level,omitempty"`
	// Thresholds by name: lower_fatal ... upper_fatal; absent when unset.
	Thresholds map[string]float64 `json:"thresholds,omitempty"`
}

// Event is one entry of the BMC's event log.
type Event struct {
	Time     *time.Time `json:"time,omitempty"`
	Source   string     `json:"source"`
	Message  string     `json:"message"`
	Severity string     `json:"severity"` // info, warning, critical
	// Kind classifies the entries the engine counts (bmc.EventKind:
	// "correctable-ecc"); absent for the others.
	Kind string `json:"kind,omitempty"`
}

// Health is the blade's own view of itself (bmc.Health).
type Health struct {
	Power          string  `json:"power"` // on, off, unknown
	PowerFault     bool    `json:"power_fault"`
	MainPowerFault bool    `json:"main_power_fault"`
	Overload       bool    `json:"overload"`
	Interlock      bool    `json:"interlock"`
	Fault          bool    `json:"fault"`
	Detail         string  `json:"detail,omitempty"`
	Failed         bool    `json:"failed"`
	Events         []Event `json:"events"`
}

// Watchdog is the watchdog timer's state.
type Watchdog struct {
	Running   bool    `json:"running"`
	Expired   bool    `json:"expired"`
	Timeout   float64 `json:"timeout_seconds"`
	Remaining float64 `json:"remaining_seconds"`
	Action    string  `json:"action"` // none, hard-reset, power-down, power-cycle
}

// ThresholdNames are the keys of Reading.Thresholds, lowest first.
var ThresholdNames = []string{"lower_fatal", "lower_critical", "lower_caution", "upper_caution", "upper_critical", "upper_fatal"}

func limits(t *sensor.Thresholds) []*sensor.Limit {
	return []*sensor.Limit{&t.LowerFatal, &t.LowerCritical, &t.LowerCaution, &t.UpperCaution, &t.UpperCritical, &t.UpperFatal}
}

// FromReading is r as recorded.
func FromReading(r sensor.Reading) Reading {
	j := Reading{Name: r.Name, Kind: r.Kind.String(), Status: r.Status.String(), Unit: r.Unit}
	if r.Status == sensor.StatusOK {
		v := r.Value
		j.Value = &v
		j.Level = r.Thresholds.Level(v).String()
	}
	th := map[string]float64{}
	for i, l := range limits(&r.Thresholds) {
		if l.Set {
			th[ThresholdNames[i]] = l.Value
		}
	}
	if len(th) > 0 {
		j.Thresholds = th
	}
	return j
}

// FromHealth is h as recorded.
func FromHealth(h bmc.Health) *Health {
	j := &Health{Power: h.Power.String(), PowerFault: h.PowerFault, MainPowerFault: h.MainPowerFault,
		Overload: h.Overload, Interlock: h.Interlock, Fault: h.Fault, Detail: h.Detail, Failed: h.Failed(),
		Events: []Event{}}
	for _, e := range h.Events {
		ej := Event{Source: e.Source, Message: e.Message, Severity: e.Severity.String(), Kind: string(e.Kind)}
		if !e.Time.IsZero() {
			t := e.Time
			ej.Time = &t
		}
		j.Events = append(j.Events, ej)
	}
	return j
}

// HealthFailures names what makes h.Failed(), or returns "".
func HealthFailures(h bmc.Health) string {
	if !h.Failed() {
		return ""
	}
	var why []string
	for _, c := range []struct {
		on   bool
		what string
	}{
		{h.Power == bmc.PowerOff, "power off"}, {h.PowerFault, "power fault"}, {h.MainPowerFault, "main power fault"},
		{h.Overload, "overload"}, {h.Interlock, "interlock"}, {h.Fault, "blade fault"},
	} {
		if c.on {
			why = append(why, c.what)
		}
	}
	if h.Fault && h.Detail != "" {
		why[len(why)-1] += " (" + h.Detail + ")"
	}
	if len(why) == 0 {
		why = append(why, "power "+h.Power.String()) // Failed for a reason not listed here
	}
	return strings.Join(why, ", ")
}
