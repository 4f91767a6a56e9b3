package ipmibmc

import (
	"fmt"

	"github.com/rackha/failover/bmc"
)

// thresholdOffsets names the threshold event offsets (event type 0x01).
var thresholdOffsets = [12]string{
	"lower non-critical going low", "lower non-critical going high",
	"lower critical going low", "lower critical going high",
	"lower non-recoverable going low", "lower non-recoverable going high",
	"upper non-critical going low", "upper non-critical going high",
	"upper critical going low", "upper critical going high",
	"upper non-recoverable going low", "upper non-recoverable going high",
}

// faultEvent lists sensor-specific events (sensor type, offset) that mean
// the blade itself failed, as opposed to a reading past a threshold (which
// the engine judges from the readings, to evacuate rather than fence).
var faultEvent = map[[2]uint8]string{
	{0x07, 0x00}: "processor IERR",
	{0x07, 0x01}: "processor thermal trip",
	{0x07, 0x05}: "processor FRB3 failure",
	{0x08, 0x01}: "power supply failure",
	{0x09, 0x04}: "power unit AC lost",
	{0x09, 0x06}: "power unit failure",
	{0x0c, 0x01}: "uncorrectable memory error",
	{0x13, 0x04}: "PCI SERR",
	{0x13, 0x08}: "bus uncorrectable error",
	{0x13, 0x0a}: "bus fatal error",
	{0x20, 0x00}: "OS critical stop during load",
	{0x20, 0x01}: "OS run-time critical stop",
}

// watchdog2Offsets names Watchdog 2 sensor (type 0x23) offsets.
var watchdog2Offsets = map[uint8]string{
	0: "timer expired", 1: "hard reset", 2: "power down", 3: "power cycle", 8: "timer interrupt",
}

// toEvent turns a SEL record into an event; name gives the sensor's name
// by number. fault is set, with its reason, for a blade-fault event.
func toEvent(r selRecord, name func(uint8) string) (e bmc.Event, fault string) {
	e = bmc.Event{Time: r.time, Severity: bmc.SeverityInfo}
	if r.typ != 0x02 {
		e.Source = "BMC"
		e.Message = fmt.Sprintf("OEM record type %#02x", r.typ)
		return e, ""
	}
	e.Source = name(r.sensorNum)
	dir := "asserted"
	if r.deassert {
		dir = "deasserted"
	}
	off := r.data[0] & 0x0f
	switch {
	case r.eventType == 0x01:
		what := fmt.Sprintf("threshold offset %d", off)
		if int(off) < len(thresholdOffsets) {
			what = thresholdOffsets[off]
		}
		e.Message = what + " " + dir
		if !r.deassert {
			switch off {
			case 0, 1, 6, 7:
				e.Severity = bmc.SeverityWarning
			default:
				if off < 12 {
					e.Severity = bmc.SeverityCritical
				}
			}
		}
	case r.sensorTyp == 0x23 && r.eventType == 0x6f:
		what, ok := watchdog2Offsets[off]
		if !ok {
			what = fmt.Sprintf("offset %d", off)
		}
		e.Message = "watchdog: " + what + " " + dir
		if !r.deassert {
			e.Severity = bmc.SeverityCritical
		}
	case r.eventType == 0x6f && r.sensorTyp == 0x0c && off == 0x00:
		// Memory, correctable ECC: no fault; the engine counts them.
		e.Message = "correctable ECC " + dir
		if !r.deassert {
			e.Severity, e.Kind = bmc.SeverityWarning, bmc.EventCorrectableECC
		}
	case r.eventType == 0x6f:
		if f, ok := faultEvent[[2]uint8{r.sensorTyp, off}]; ok {
			e.Message = f + " " + dir
			if !r.deassert {
				e.Severity = bmc.SeverityCritical
				fault = f
			}
		} else {
			e.Message = fmt.Sprintf("sensor type %#02x offset %d %s", r.sensorTyp, off, dir)
		}
	default:
		e.Message = fmt.Sprintf("event type %#02x offset %d %s", r.eventType, off, dir)
	}
	return e, fault
}
