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

// logEntryDoc is the part of a LogEntry the watchdog looks at.
type logEntryDoc struct {
	ODataID   string `json:"@odata.id"`
	ID        string `json:"Id"`
	Created   string
	MessageID string `json:"MessageId"`
	Message   string
	Links     struct {
		OriginOfCondition *odataRef
	}
}

// maxLogPages bounds the pages of one log read (@odata.nextLink).
const maxLogPages = 16

// scanLog reads the system's log entries, at most every
// Config.WatchdogLogInterval unless force, and returns the watchdog
// expiries new since the previous read (also kept for Health). The first
// read only notes what the log holds. Failures are logged: the
// watchdog's own reading stands without them.
func (b *BMC) scanLog(ctx context.Context, d systemDoc, force bool) []bmc.Event {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	now := time.Now()
	if !force && !b.logNext.IsZero() && now.Before(b.logNext) {
		return nil
	}
	b.logNext = now.Add(b.cfg.WatchdogLogInterval)
	if d.LogServices == nil || d.LogServices.ID == "" {
		return nil
	}
	if b.logEntries == nil {
		paths, err := b.logEntryPaths(ctx, d.LogServices.ID)
		if err != nil {
			b.cfg.Logger.Warn("redfishbmc: log services unreadable; watchdog expiries only from events", "endpoint", b.cfg.Endpoint, "err", err)
			return nil
		}
		b.logEntries = paths
	}
	present := map[string]bool{}
	var found []logEntryDoc
	for _, p := range b.logEntries {
		entries, err := b.readLog(ctx, p)
		if err != nil {
			b.cfg.Logger.Warn("redfishbmc: log unreadable", "endpoint", b.cfg.Endpoint, "log", p, "err", err)
			return nil // a partial read must not look like a cleared log
		}
		for _, e := range entries {
			if !isWatchdogExpiry(e.MessageID) {
				continue
			}
			if o := e.Links.OriginOfCondition; o != nil && o.ID != "" && !concerns(o.ID, []string{norm(b.sys.Path)}) {
				continue
			}
			k := e.ODataID + "|" + e.ID + "|" + e.Created
			present[k] = true
			if !b.logSeen[k] {
				found = append(found, e)
			}
		}
	}
	first := b.logSeen == nil
	b.logSeen = present
	b.wd.logGone(present)
	if first {
		if len(found) > 0 {
			b.cfg.Logger.Info("redfishbmc: watchdog expiries already in the log taken as history", "endpoint", b.cfg.Endpoint, "entries", len(found))
		}
		return nil
	}
	var out []bmc.Event
	for _, e := range found {
		ev := bmc.Event{Time: now, Source: b.sys.Path, Severity: bmc.SeverityCritical,
			Message: trunc("watchdog expired (log " + e.MessageID + "): " + e.Message)}
		if t, err := time.Parse(time.RFC3339Nano, e.Created); err == nil {
			ev.Time = t
		}
		b.wd.mark(ev.Message, e.ODataID+"|"+e.ID+"|"+e.Created)
		b.keepForHealth(ev)
		out = append(out, ev)
	}
	return out
}

// logEntryPaths lists the Entries collections of a LogServices collection.
func (b *BMC) logEntryPaths(ctx context.Context, services string) ([]string, error) {
	var coll collectionDoc
	if err := b.getJSON(ctx, services, &coll); err != nil {
		return nil, err
	}
	out := []string{}
	for _, m := range coll.Members {
		var svc struct{ Entries *odataRef }
		if err := b.getJSON(ctx, m.ID, &svc); err != nil {
			return nil, err
		}
		if svc.Entries != nil && svc.Entries.ID != "" {
			out = append(out, svc.Entries.ID)
		}
	}
	return out, nil
}

// readLog reads a LogEntry collection, following @odata.nextLink up to
// maxLogPages and never to a page twice. Members must be inline (as services send them); links
// only are skipped, not fetched one by one.
func (b *BMC) readLog(ctx context.Context, p string) ([]logEntryDoc, error) {
	var out []logEntryDoc
	seen := map[string]bool{}
	for page := 0; p != "" && !seen[p] && page < maxLogPages; page++ {
		seen[p] = true
		var c struct {
			Members  []logEntryDoc
			NextLink string `json:"Members@odata.nextLink"`
			Next     string `json:"@odata.nextLink"`
		}
		if err := b.getJSONQuery(ctx, p, &c); err != nil {
			return nil, err
		}
		out = append(out, c.Members...)
		p = firstOf(c.Next, c.NextLink)
	}
	return out, nil
}

// keepForHealth queues ev for the next Health call.
func (b *BMC) keepForHealth(ev bmc.Event) {
	b.evMu.Lock()
	defer b.evMu.Unlock()
	if len(b.pending) >= eventBuffer {
		b.pending = b.pending[1:]
	}
	b.pending = append(b.pending, ev)
}
