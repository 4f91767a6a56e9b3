package redfishbmc

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

// optFloat is a JSON number that remembers whether it was there and
// whether it was null.
type optFloat struct {
	v             float64
	present, null bool
}

func (o *optFloat) UnmarshalJSON(b []byte) error {
	o.present = true
	if string(b) == "null" {
		o.null = true
		return nil
	}
	return json.Unmarshal(b, &o.v)
}

func (o optFloat) ok() bool { return o.present && !o.null }

func (o optFloat) limit() sensor.Limit {
	if !o.ok() {
		return sensor.Limit{}
	}
	return sensor.At(o.v)
}

// unavailableState: Status.State values under which a component gives
// no reading.
func unavailableState(s string) bool {
	switch s {
	case "Absent", "Disabled", "UnavailableOffline", "StandbyOffline", "StandbySpare":
		return true
	}
	return false
}

// thresholdDoc is one Redfish Thresholds entry.
type thresholdDoc struct {
	Reading optFloat
}

// sensorDoc is a Redfish Sensor resource.
type sensorDoc struct {
	ID              string `json:"Id"`
	Name            string
	Reading         optFloat
	ReadingType     string
	ReadingUnits    string
	PhysicalContext string
	Status          rfStatus
	RelatedItem     []odataRef
	Thresholds      struct {
		LowerCaution, LowerCritical, LowerFatal thresholdDoc
		UpperCaution, UpperCritical, UpperFatal thresholdDoc
	}
}

// legacyThresholds are the threshold fields of Thermal and Power entries.
type legacyThresholds struct {
	LowerThresholdNonCritical, LowerThresholdCritical, LowerThresholdFatal optFloat
	UpperThresholdNonCritical, UpperThresholdCritical, UpperThresholdFatal optFloat
}

func (l legacyThresholds) thresholds() sensor.Thresholds {
	return sensor.Thresholds{
		LowerFatal: l.LowerThresholdFatal.limit(), LowerCritical: l.LowerThresholdCritical.limit(), LowerCaution: l.LowerThresholdNonCritical.limit(),
		UpperCaution: l.UpperThresholdNonCritical.limit(), UpperCritical: l.UpperThresholdCritical.limit(), UpperFatal: l.UpperThresholdFatal.limit(),
	}
}

// entryDoc is one member of Thermal.Temperatures/Fans or
// Power.Voltages/PowerSupplies/PowerControl.
type entryDoc struct {
	MemberID string `json:"MemberId"`
	Name     string
	FanName  string
	Status   rfStatus
	legacyThresholds
	ReadingCelsius       optFloat
	Reading              optFloat
	ReadingUnits         string
	ReadingVolts         optFloat
	LineInputVoltage     optFloat
	LastPowerOutputWatts optFloat
	PowerConsumedWatts   optFloat
	RelatedItem          []odataRef
}

// filterFunc decides whether an enclosure entry concerns the blade; nil
// keeps every entry.
type filterFunc func(related []odataRef) bool

// finish validates r: a value no sensor can give makes the reading
// unavailable and is reported.
func finish(r sensor.Reading) (sensor.Reading, error) {
	if err := r.Validate(); err != nil {
		r.Status = sensor.StatusUnavailable
		r.Value = 0
		r.Thresholds = sensor.Thresholds{}
		return r, fmt.Errorf("%w: %w", bmc.ErrMalformed, err)
	}
	return r, nil
}

// decodeSensor converts a Sensor resource. ok is false when filter
// rejects it.
func decodeSensor(body []byte, now time.Time, filter filterFunc) (r sensor.Reading, ok bool, err error) {
	var d sensorDoc
	if err := json.Unmarshal(body, &d); err != nil {
		return sensor.Reading{}, true, fmt.Errorf("%w: Sensor: %v", bmc.ErrMalformed, err)
	}
	if filter != nil && !filter(d.RelatedItem) {
		return sensor.Reading{}, false, nil
	}
	kind, unit := sensorKind(d)
	r = sensor.Reading{Name: firstOf(d.Name, d.ID), Kind: kind, Unit: unit, Time: now, Status: sensor.StatusUnavailable}
	if r.Name == "" {
		return r, true, fmt.Errorf("%w: Sensor without Name or Id", bmc.ErrMalformed)
	}
	if unavailableState(d.Status.State) || !d.Reading.ok() {
		r, err = finish(r)
		return r, true, err
	}
	t := d.Thresholds
	r.Value, r.Status = d.Reading.v, sensor.StatusOK
	r.Thresholds = sensor.Thresholds{
		LowerFatal: t.LowerFatal.Reading.limit(), LowerCritical: t.LowerCritical.Reading.limit(), LowerCaution: t.LowerCaution.Reading.limit(),
		UpperCaution: t.UpperCaution.Reading.limit(), UpperCritical: t.UpperCritical.Reading.limit(), UpperFatal: t.UpperFatal.Reading.limit(),
	}
	r, err = finish(r)
	return r, true, err
}

// canonicalUnit is the unit of a kind when the service names none (an
// absent sensor often carries no ReadingUnits).
var canonicalUnit = map[sensor.Kind]string{
	sensor.KindVoltage: "V", sensor.KindTemperature: "C", sensor.KindPower: "W",
	sensor.KindCurrent: "A", sensor.KindFan: "RPM",
}

// sensorKind derives kind and unit from ReadingType and ReadingUnits.
func sensorKind(d sensorDoc) (sensor.Kind, string) {
	k, unit := sensorKindUnit(d)
	if unit == "" {
		unit = canonicalUnit[k]
	}
	return k, unit
}

func sensorKindUnit(d sensorDoc) (sensor.Kind, string) {
	unit := d.ReadingUnits
	switch unit {
	case "Cel":
		unit = "C"
	case "{rev}/min", "{rev}.min-1":
		unit = "RPM"
	}
	switch d.ReadingType {
	case "Temperature":
		return sensor.KindTemperature, unit
	case "Voltage":
		return sensor.KindVoltage, unit
	case "Power":
		return sensor.KindPower, unit
	case "Current":
		return sensor.KindCurrent, unit
	case "Rotational":
		return sensor.KindFan, unit
	case "Percent":
		if unit == "" {
			unit = "%"
		}
		if d.PhysicalContext == "Fan" || strings.Contains(strings.ToLower(d.ID+" "+d.Name), "fan") {
			return sensor.KindFan, unit
		}
		return sensor.KindOther, unit
	case "":
		switch unit {
		case "C":
			return sensor.KindTemperature, unit
		case "V":
			return sensor.KindVoltage, unit
		case "W":
			return sensor.KindPower, unit
		case "A":
			return sensor.KindCurrent, unit
		case "RPM":
			return sensor.KindFan, unit
		}
	}
	return sensor.KindOther, unit
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// arrayDoc holds the arrays of Thermal and Power, each entry raw so one
// broken entry does not lose the others.
type arrayDoc struct {
	Temperatures, Fans                    []json.RawMessage
	Voltages, PowerSupplies, PowerControl []json.RawMessage
}

// decodeLegacy converts a Thermal or Power resource. Broken entries are
// skipped and reported; the others are returned.
func decodeLegacy(body []byte, now time.Time, filter filterFunc) ([]sensor.Reading, []error) {
	var d arrayDoc
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, []error{fmt.Errorf("%w: Thermal/Power: %v", bmc.ErrMalformed, err)}
	}
	var out []sensor.Reading
	var errs []error
	each := func(array string, raws []json.RawMessage, conv func(entryDoc, string) []sensor.Reading) {
		for i, raw := range raws {
			var e entryDoc
			if err := json.Unmarshal(raw, &e); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s[%d]: %v", bmc.ErrMalformed, array, i, err))
				continue
			}
			if filter != nil && !filter(e.RelatedItem) {
				continue
			}
			name := firstOf(e.Name, e.FanName, e.MemberID, fmt.Sprintf("%s[%d]", array, i))
			for _, r := range conv(e, name) {
				r.Time = now
				r, err := finish(r)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", array, i, err))
				}
				out = append(out, r)
			}
		}
	}
	one := func(e entryDoc, name string, kind sensor.Kind, unit string, v optFloat, th sensor.Thresholds) sensor.Reading {
		r := sensor.Reading{Name: name, Kind: kind, Unit: unit, Status: sensor.StatusUnavailable}
		if !unavailableState(e.Status.State) && v.ok() {
			r.Value, r.Status, r.Thresholds = v.v, sensor.StatusOK, th
		}
		return r
	}
	each("Temperatures", d.Temperatures, func(e entryDoc, n string) []sensor.Reading {
		return []sensor.Reading{one(e, n, sensor.KindTemperature, "C", e.ReadingCelsius, e.thresholds())}
	})
	each("Fans", d.Fans, func(e entryDoc, n string) []sensor.Reading {
		unit := e.ReadingUnits
		if unit == "Percent" {
			unit = "%"
		}
		return []sensor.Reading{one(e, n, sensor.KindFan, unit, e.Reading, e.thresholds())}
	})
	each("Voltages", d.Voltages, func(e entryDoc, n string) []sensor.Reading {
		return []sensor.Reading{one(e, n, sensor.KindVoltage, "V", e.ReadingVolts, e.thresholds())}
	})
	each("PowerSupplies", d.PowerSupplies, func(e entryDoc, n string) []sensor.Reading {
		var rs []sensor.Reading
		gone := unavailableState(e.Status.State)
		if e.LineInputVoltage.present || gone {
			rs = append(rs, one(e, n+" input voltage", sensor.KindVoltage, "V", e.LineInputVoltage, sensor.Thresholds{}))
		}
		if e.LastPowerOutputWatts.present || gone {
			rs = append(rs, one(e, n+" output power", sensor.KindPower, "W", e.LastPowerOutputWatts, sensor.Thresholds{}))
		}
		return rs
	})
	each("PowerControl", d.PowerControl, func(e entryDoc, n string) []sensor.Reading {
		if !e.PowerConsumedWatts.present && !unavailableState(e.Status.State) {
			return nil
		}
		return []sensor.Reading{one(e, n+" consumed power", sensor.KindPower, "W", e.PowerConsumedWatts, sensor.Thresholds{})}
	})
	return out, errs
}
