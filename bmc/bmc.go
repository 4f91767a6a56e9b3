// Package bmc describes what the failover method needs from a server's
// baseboard management controller besides sensors (package sensor) and the
// watchdog (package watchdog): blade health, power state, and power control
// that is confirmed by reading the state back. Adapters live in
// bmc/<protocol>bmc; one adapter value serves all these roles over one
// session.
package bmc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrUnreachable: the BMC did not answer (timeout, refused, session
	// lost). Unreachable is not failed: the engine never takes over on it.
	ErrUnreachable = errors.New("failover: BMC unreachable")
	// ErrIndeterminate: a power operation may or may not have happened (the
	// answer was lost, or the read-back disagrees). Never retry it blindly.
	ErrIndeterminate = errors.New("failover: power operation indeterminate")
	// ErrUnsupported: the BMC does not offer this operation.
	ErrUnsupported = errors.New("failover: operation not supported by BMC")
	// ErrNotOffered: the BMC does not offer this role at all (a Redfish
	// service whose system has no HostWatchdogTimer). It is not a failed
	// read: tools show the role as not offered, and the engine treats it
	// as a server without that role.
	ErrNotOffered = errors.New("failover: role not offered by BMC")
	// ErrMalformed: the BMC answered something that cannot be decoded.
	ErrMalformed = errors.New("failover: malformed BMC answer")
	// ErrInsecure: a configuration was refused because it is not secure
	// (IPMI cipher suite 0, empty password, TLS verification off without
	// being asked for).
	ErrInsecure = errors.New("failover: insecure BMC configuration")
)

// PowerState is a server's power as the BMC reports it.
type PowerState uint8

// Power states.
const (
	PowerUnknown PowerState = iota
	PowerOn
	PowerOff
)

func (p PowerState) String() string {
	switch p {
	case PowerOn:
		return "on"
	case PowerOff:
		return "off"
	}
	return "unknown"
}

// PowerAction is a power operation.
type PowerAction uint8

// Power operations.
const (
	PowerActionOff   PowerAction = iota + 1 // hard power off: the fence
	PowerActionOn                           // power on
	PowerActionCycle                        // off, then on: the restart
)

func (a PowerAction) String() string {
	switch a {
	case PowerActionOff:
		return "off"
	case PowerActionOn:
		return "on"
	case PowerActionCycle:
		return "cycle"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Severity of a BMC event.
type Severity uint8

// Severities.
const (
	SeverityInfo Severity = iota
	SeverityWarning
	SeverityCritical
)

func (s Severity) String() string {
	switch s {
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	}
	return "info"
}

// Event is one entry of the BMC's event log (IPMI SEL, Redfish event).
type Event struct {
	Time     time.Time
	Source   string // sensor or resource the event is about
	Message  string
	Severity Severity
	// Kind classifies the entries the failover engine counts; "" for
	// the others.
	Kind EventKind
}

// EventKind classifies a BMC event.
type EventKind string

// EventCorrectableECC: a correctable memory (ECC) error was logged (IPMI
// SEL sensor type Memory, offset 0 "correctable ECC"). The engine counts
// them (Policy.PredictECCLimit).
const EventCorrectableECC EventKind = "correctable-ecc"

// Health is a blade's own view of itself.
type Health struct {
	Power PowerState
	// Power-subsystem faults (IPMI chassis status bits).
	PowerFault     bool
	MainPowerFault bool
	Overload       bool
	Interlock      bool
	// Fault: the BMC declares the blade failed (Redfish Health Critical,
	// a critical SEL entry, a failed-state indicator).
	Fault bool
	// Detail names the reason for Fault, in the BMC's words.
	Detail string
	// Events logged since the previous Health call on this adapter.
	Events []Event
}

// Failed reports whether the blade declares itself faulty or without power.
func (h Health) Failed() bool {
	return h.Power == PowerOff || h.PowerFault || h.MainPowerFault || h.Overload || h.Interlock || h.Fault
}

// HealthReader reads a blade's health. Safe for concurrent use.
type HealthReader interface {
	Health(ctx context.Context) (Health, error)
}

// Power controls a server's power. Safe for concurrent use.
//
// SetPower returns nil only once the BMC's power state has been read back
// and agrees with the action (Off for off, On for on and cycle). When the
// request was sent but its outcome is unknown, the error wraps
// ErrIndeterminate.
//
// SetPower(PowerActionOff) is the fence: it must always send the
// power-off command, even when the server already reads off, and then
// confirm off by reading back. A reading can be stale or wrong (a BMC
// that reports off early or caches its state), and a fence skipped on
// the same reading that confirms it lets a backup start while the host
// still runs. A BMC that refuses the command because the server is
// already off ("not in present state", a conflict) is success once the
// read-back says off. bmctest's FenceSentWhenReadsOff checks this.
type Power interface {
	SetPower(ctx context.Context, action PowerAction) error
	PowerState(ctx context.Context) (PowerState, error)
}

// EventSource is the optional capability of an adapter that pushes events
// (Redfish Server-Sent Events). rack.Local finds it by type assertion on a
// server's HealthReader (or sensor.Source) and reads that server's status
// at once for each event instead of waiting for its next poll. Without
// it, polling alone finds changes.
type EventSource interface {
	// Events delivers events until ctx ends; then the channel is closed.
	// A slow reader loses older events, never the newest.
	Events(ctx context.Context) (<-chan Event, error)
}

// BMC is everything an adapter offers for one server. The rack manager
// takes each role separately, so a server may mix sources.
type BMC interface {
	sensor.Source
	watchdog.Watchdog
	HealthReader
	Power
	Close() error
}
