package redfishbmc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/watchdog"
)

var _ bmc.BMC = (*BMC)(nil) // every role, the watchdog read-only

// hostWatchdogDoc is ComputerSystem.HostWatchdogTimer.
type hostWatchdogDoc struct {
	FunctionEnabled *bool
	TimeoutAction   string
	Status          rfStatus
}

// decodeHostWatchdog reads a HostWatchdogTimer object (raw: the JSON
// value, nil or null when the system has none). Running is
// FunctionEnabled and Status.State Enabled; Action comes from
// TimeoutAction (OEM or unknown actions read as ActionNone: nothing is
// assumed of them). Redfish gives no timeout or remaining time.
func decodeHostWatchdog(raw json.RawMessage) (watchdog.State, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return watchdog.State{}, fmt.Errorf("%w: the system has no HostWatchdogTimer", bmc.ErrNotOffered)
	}
	var d hostWatchdogDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return watchdog.State{}, fmt.Errorf("%w: HostWatchdogTimer: %v", bmc.ErrMalformed, err)
	}
	if d.FunctionEnabled == nil {
		return watchdog.State{}, fmt.Errorf("%w: HostWatchdogTimer has no FunctionEnabled", bmc.ErrMalformed)
	}
	st := watchdog.State{Running: *d.FunctionEnabled && d.Status.State == "Enabled"}
	switch d.TimeoutAction {
	case "ResetSystem":
		st.Action = watchdog.ActionHardReset
	case "PowerCycle":
		st.Action = watchdog.ActionPowerCycle
	case "PowerDown":
		st.Action = watchdog.ActionPowerDown
	}
	return st, nil
}

// State reads the system's HostWatchdogTimer. A system without one
// answers an error wrapping bmc.ErrNotOffered (not a failed read). Expired
// is set from the moment the service reports a watchdog expiry (an event
// on the stream of Events, or a new entry in the system's LogServices,
// read every Config.WatchdogLogInterval) until the watchdog is seen
// re-armed: not running (or the system not on) at one read after the
// expiry, and running at a later one. An expiry entry already in the log
// at the adapter's first read is history, not reported; one the log
// loses (LogService.ClearLog) is cleared.
func (b *BMC) State(ctx context.Context) (watchdog.State, error) {
	d, err := b.readSystem(ctx)
	if err != nil {
		return watchdog.State{}, err
	}
	st, err := decodeHostWatchdog(d.HostWatchdogTimer)
	if err != nil {
		return watchdog.State{}, fmt.Errorf("system %s: %w", b.sys.Path, err)
	}
	b.scanLog(ctx, d, false)
	st.Expired = b.wd.observe(st.Running && d.PowerState == "On")
	return st, nil
}

// Arm is not possible over Redfish: the host arms its watchdog in-band
// (IPMI from the host, or the OS's driver); Redfish only reads it. The
// error wraps bmc.ErrUnsupported.
func (b *BMC) Arm(ctx context.Context, timeout time.Duration, action watchdog.Action) error {
	return fmt.Errorf("%w: system %s: Redfish only reads the host watchdog; the host arms it in-band", bmc.ErrUnsupported, b.sys.Path)
}

// Kick is not possible over Redfish (see Arm); the error wraps
// bmc.ErrUnsupported.
func (b *BMC) Kick(ctx context.Context) error {
	return fmt.Errorf("%w: system %s: Redfish only reads the host watchdog; the host kicks it in-band", bmc.ErrUnsupported, b.sys.Path)
}

// isWatchdogExpiry reports whether a MessageId names a watchdog expiry:
// its message key (after the registry prefix and version) names a
// watchdog and an expiry or timeout, such as
// "HostWatchdogTimerExpired", "WatchdogTimerExpired" or
// "WatchdogTimeout". OpenBMC's "IPMIWatchdog" is logged on enable and
// disable too, so it is none.
func isWatchdogExpiry(messageID string) bool {
	k := strings.ToLower(messageKey(messageID))
	return strings.Contains(k, "watchdog") &&
		(strings.Contains(k, "expire") || strings.Contains(k, "timeout") || strings.Contains(k, "timedout"))
}

// messageKey is the last dot-separated part of a MessageId
// ("Base.1.15.EventBufferExceeded" -> "EventBufferExceeded").
func messageKey(messageID string) string {
	return messageID[strings.LastIndexByte(messageID, '.')+1:]
}

// wdTracker remembers a reported watchdog expiry until the watchdog is
// seen re-armed. Safe for concurrent use.
type wdTracker struct {
	mu      sync.Mutex
	active  bool
	fromLog string // the log entry's key when the expiry came from the log
	stopped bool   // seen not running since the expiry
	detail  string
}

// mark records an expiry; fromLog is the entry's key or "".
func (w *wdTracker) mark(detail, fromLog string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active, w.stopped, w.detail, w.fromLog = true, false, detail, fromLog
}

// observe takes one read of the watchdog (running: armed and the system
// on) and returns whether an expiry is still standing.
func (w *wdTracker) observe(running bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !w.active:
	case !running:
		w.stopped = true
	case w.stopped:
		w.active = false // re-armed since the expiry
	}
	return w.active
}

// logGone clears a log-sourced expiry whose entry left the log.
func (w *wdTracker) logGone(present map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.active && w.fromLog != "" && !present[w.fromLog] {
		w.active = false
	}
}
