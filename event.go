package failover

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rackha/failover/watchdog"
)

// EventType names what happened.
type EventType string

// Event types.
const (
	EventDetected      EventType = "detected"       // a failure held past debounce
	EventEvacuating    EventType = "evacuating"     // checkpointing a degraded server's VMs
	EventEvacuated     EventType = "evacuated"      // one VM checkpointed and stopped on the failed server
	EventFenced        EventType = "fenced"         // power off confirmed by read-back
	EventBackupStarted EventType = "backup-started" // a VM runs on the peer
	EventRestarted     EventType = "restarted"      // the failed server was powered back on
	EventRecovered     EventType = "recovered"      // the restarted server reports healthy again
	EventAlert         EventType = "alert"          // something needs a person
	EventReconciled    EventType = "reconciled"     // a VM owned here but not running was started here
	// EventWatchdogSeen: what the watcher saw of a peer's watchdog
	// changed (WatchdogAction, WatchdogTimeout; action none: not armed).
	// Runners journal it and feed it back after a restart as
	// InputWatchdogSeen: a takeover by lease needs it.
	EventWatchdogSeen EventType = "watchdog-seen"
)

// Cause is why a server was judged failed.
type Cause string

// Causes: the four detection modes of the method, plus BMC and status loss.
const (
	CauseNone           Cause = ""
	CauseBladeFault     Cause = "blade-fault"
	CauseNoPower        Cause = "no-power"
	CauseWatchdog       Cause = "watchdog"
	CauseVoltage        Cause = "voltage"
	CauseTemperature    Cause = "temperature"
	CauseBMCUnreachable Cause = "bmc-unreachable"
	// CauseNoStatus: no status of any watched server came for
	// Policy.StatusTimeout (the rack manager or the way to it is down).
	CauseNoStatus Cause = "no-status"
	// CauseLeaseExpired: the BMC is unreachable and the server's lease
	// expired long enough ago that its own watchdog has powered it off
	// (see lease.go for the bound).
	CauseLeaseExpired Cause = "lease-expired"
	// CauseCorrectableECC: correctable memory errors came faster than
	// Policy.PredictECCLimit per Policy.PredictECCWindow (a prediction).
	CauseCorrectableECC Cause = "correctable-ecc"
)

// Event reports one decision or outcome. Server is the server the event
// is about (the failed one); Peer is the watcher acting on it.
type Event struct {
	Time   time.Time
	Type   EventType
	Server string
	Peer   string
	Cause  Cause
	VM     string
	// VMs lists the VMs an alert is about when there are several (a storm
	// hold, a fence never confirmed).
	VMs []string
	// Resumed: the backup was resumed from a checkpoint, not cold-started.
	Resumed bool
	// Sensor, Value, Unit and Threshold describe a voltage or temperature
	// detection.
	Sensor    string
	Value     float64
	Unit      string
	Threshold float64
	// Since is the time from detection to this event.
	Since time.Duration
	// Wait is, for a takeover by lease, how long the watcher waited after
	// the lease expired (at least the bound).
	Wait time.Duration
	// WatchdogAction and WatchdogTimeout describe the watchdog an
	// EventWatchdogSeen reports.
	WatchdogAction  watchdog.Action
	WatchdogTimeout time.Duration
	// Message says more, in words.
	Message string
	// Predicted: the detection is a prediction (Policy.Predict), not a
	// threshold reached. For a trend, Sensor, Value, Unit and Threshold
	// name the sensor, Rate is its rate toward the threshold in Unit per
	// minute and Crossing when it is predicted to reach it; for
	// correctable memory errors, Value is how many were logged within
	// Policy.PredictECCWindow and Rate how many per minute.
	Predicted bool
	Rate      float64
	Crossing  time.Time
}

type eventJSON struct {
	Time      time.Time `json:"time"`
	Type      EventType `json:"type"`
	Server    string    `json:"server,omitempty"`
	Peer      string    `json:"peer,omitempty"`
	Cause     Cause     `json:"cause,omitempty"`
	VM        string    `json:"vm,omitempty"`
	VMs       []string  `json:"vms,omitempty"`
	Resumed   bool      `json:"resumed,omitempty"`
	Sensor    string    `json:"sensor,omitempty"`
	Value     *float64  `json:"value,omitempty"`
	Unit      string    `json:"unit,omitempty"`
	Threshold *float64  `json:"threshold,omitempty"`
	SinceMS   *int64    `json:"since_ms,omitempty"`
	WaitMS    *int64    `json:"wait_ms,omitempty"`
	// WatchdogAction is set (maybe to "none") exactly on watchdog-seen.
	WatchdogAction    string `json:"watchdog_action,omitempty"`
	WatchdogTimeoutMS *int64 `json:"watchdog_timeout_ms,omitempty"`
	Message           string `json:"message,omitempty"`

	// predictions
	Predicted bool       `json:"predicted,omitempty"`
	Rate      *float64   `json:"rate,omitempty"`
	Crossing  *time.Time `json:"crossing,omitempty"`
}

// MarshalJSON writes the event as one flat object with the keys time,
// type, server, peer, cause, vm, resumed, sensor, value, unit, threshold,
// since_ms, wait_ms, watchdog_action, watchdog_timeout_ms, message,
// predicted, rate and crossing; empty ones are left out.
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{Time: e.Time, Type: e.Type, Server: e.Server, Peer: e.Peer, Cause: e.Cause, VM: e.VM, VMs: e.VMs,
		Resumed: e.Resumed, Sensor: e.Sensor, Unit: e.Unit, Message: e.Message}
	if e.Sensor != "" {
		j.Value, j.Threshold = &e.Value, &e.Threshold
	}
	if e.Since > 0 {
		ms := e.Since.Milliseconds()
		j.SinceMS = &ms
	}
	if e.Wait > 0 {
		ms := e.Wait.Milliseconds()
		j.WaitMS = &ms
	}
	if e.Type == EventWatchdogSeen {
		ms := e.WatchdogTimeout.Milliseconds()
		j.WatchdogAction, j.WatchdogTimeoutMS = e.WatchdogAction.String(), &ms
	}
	if e.Predicted {
		j.Predicted = true
		if e.Sensor != "" {
			j.Rate = &e.Rate
		}
		if !e.Crossing.IsZero() {
			j.Crossing = &e.Crossing
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Event{Time: j.Time, Type: j.Type, Server: j.Server, Peer: j.Peer, Cause: j.Cause, VM: j.VM, VMs: j.VMs,
		Resumed: j.Resumed, Sensor: j.Sensor, Unit: j.Unit, Message: j.Message}
	if j.Value != nil {
		e.Value = *j.Value
	}
	if j.Threshold != nil {
		e.Threshold = *j.Threshold
	}
	if j.SinceMS != nil {
		e.Since = time.Duration(*j.SinceMS) * time.Millisecond
	}
	if j.WaitMS != nil {
		e.Wait = time.Duration(*j.WaitMS) * time.Millisecond
	}
	if j.WatchdogAction != "" {
		a, err := watchdog.ParseAction(j.WatchdogAction)
		if err != nil {
			return fmt.Errorf("event watchdog_action: %w", err)
		}
		e.WatchdogAction = a
	}
	if j.WatchdogTimeoutMS != nil {
		e.WatchdogTimeout = time.Duration(*j.WatchdogTimeoutMS) * time.Millisecond
	}
	e.Predicted = j.Predicted
	if j.Rate != nil {
		e.Rate = *j.Rate
	}
	if j.Crossing != nil {
		e.Crossing = *j.Crossing
	}
	return nil
}

// String is one readable timeline line, without the time.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %s", e.Type, e.Server)
	if e.Peer != "" {
		fmt.Fprintf(&b, " (peer %s)", e.Peer)
	}
	if e.Cause != "" {
		fmt.Fprintf(&b, " cause=%s", e.Cause)
	}
	if e.Sensor != "" {
		fmt.Fprintf(&b, " %q=%.4g%s threshold %.4g%s", e.Sensor, e.Value, e.Unit, e.Threshold, e.Unit)
	}
	if e.VM != "" {
		fmt.Fprintf(&b, " vm=%s", e.VM)
		if e.Resumed {
			b.WriteString(" (resumed from checkpoint)")
		}
	}
	if e.Predicted {
		b.WriteString(" predicted")
		if e.Sensor != "" {
			fmt.Fprintf(&b, " rate=%.3g/min", e.Rate)
		}
		if !e.Crossing.IsZero() {
			fmt.Fprintf(&b, " crossing=%s", e.Crossing.UTC().Format(time.RFC3339))
		}
	}
	if e.Since > 0 {
		fmt.Fprintf(&b, " +%v", e.Since)
	}
	if e.Wait > 0 {
		fmt.Fprintf(&b, " wait=%v", e.Wait)
	}
	if e.Type == EventWatchdogSeen {
		fmt.Fprintf(&b, " watchdog=%s/%v", e.WatchdogAction, e.WatchdogTimeout)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}
