package redfishbmc

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/rackha/failover/bmc"
)

// The system's log (LogServices) is read for two things: a watchdog
// expiry (see State) and correctable memory errors (see
// isCorrectableECC). One read serves both, at most every
// Config.WatchdogLogInterval, started by State, by Events' polling and,
// in the background, by Health.

// logEntryDoc is the part of a LogEntry the log scan looks at.
type logEntryDoc struct {
	ODataID    string `json:"@odata.id"`
	ID         string `json:"Id"`
	Created    string
	EntryType  string
	EntryCode  string
	SensorType string
	MessageID  string `json:"MessageId"`
	Message    string
	Links      struct {
		OriginOfCondition *odataRef
	}
}

// key identifies an entry across reads; "" when it has no identity
// (neither @odata.id nor Id), so that it cannot be told new from old.
func (e logEntryDoc) key() string {
	if e.ODataID == "" && e.ID == "" {
		return ""
	}
	return e.ODataID + "|" + e.ID + "|" + e.Created
}

// origin is the entry's OriginOfCondition, "" when none.
func (e logEntryDoc) origin() string {
	if o := e.Links.OriginOfCondition; o != nil {
		return o.ID
	}
	return ""
}

// logKind is what the scan makes of an entry.
type logKind int

const (
	logOther        logKind = iota
	logWatchdog             // a watchdog expiry about this system
	logCorrectedECC         // a correctable memory error of this system
)

// maxLogPages bounds the pages of one log read (@odata.nextLink).
const maxLogPages = 16

// maxECCPerRead bounds the correctable memory errors one log read
// reports (the rest are logged as a count and taken as seen): a burst
// of new entries must not crowd every other event out of Health. It is
// above the engine's default PredictECCLimit (20), so one burst alone
// can trigger an evacuation; it is half of eventBuffer, so it never
// fills the queue for Health alone.
const maxECCPerRead = eventBuffer / 2

// kindOf classifies e; d is the system as read.
func (b *BMC) kindOf(e logEntryDoc, d systemDoc) logKind {
	o := e.origin()
	switch {
	case isWatchdogExpiry(e.MessageID):
		if o == "" || concerns(o, []string{norm(b.sys.Path)}) {
			return logWatchdog
		}
	case isCorrectableECC(e):
		mine := []string{norm(b.sys.Path)}
		for _, c := range d.Links.Chassis {
			mine = append(mine, norm(c.ID))
		}
		if o == "" || concerns(o, mine) {
			return logCorrectedECC
		}
	}
	return logOther
}

type logFind struct {
	e    logEntryDoc
	kind logKind
}

// scanLog reads the system's log entries, at most every
// Config.WatchdogLogInterval unless force, and returns the watchdog
// expiries and correctable memory errors new since the previous read
// (also kept for Health). The first read only notes what the log holds.
// Failures are logged: the watchdog's own reading and Health stand
// without them.
func (b *BMC) scanLog(ctx context.Context, d systemDoc, force bool) []bmc.Event {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.scanLogLocked(ctx, d, force)
}

// scanLogBehind starts scanLog in the background when a read is due and
// none runs, so that Health never waits on a long log: what the read
// finds reaches the next Health call. Close cancels it and waits for it.
func (b *BMC) scanLogBehind(d systemDoc) {
	if d.LogServices == nil || d.LogServices.ID == "" || !b.logMu.TryLock() {
		return // no log, or a read is under way
	}
	b.bgMu.Lock()
	if b.isClosed() || !b.logDue(time.Now()) {
		b.bgMu.Unlock()
		b.logMu.Unlock()
		return
	}
	b.bg.Add(1)
	b.bgMu.Unlock()
	go func() {
		defer b.bg.Done()
		defer b.logMu.Unlock() // taken by the caller for this read
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-b.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		b.scanLogLocked(ctx, d, false)
	}()
}

// logDue reports whether the log may be read at now; logMu held.
func (b *BMC) logDue(now time.Time) bool {
	return b.logNext.IsZero() || !now.Before(b.logNext)
}

// scanLogLocked is scanLog with logMu held.
func (b *BMC) scanLogLocked(ctx context.Context, d systemDoc, force bool) []bmc.Event {
	now := time.Now()
	if !force && !b.logDue(now) {
		return nil
	}
	b.logNext = now.Add(b.cfg.WatchdogLogInterval)
	if d.LogServices == nil || d.LogServices.ID == "" {
		return nil
	}
	if b.logEntries == nil {
		paths, err := b.logEntryPaths(ctx, d.LogServices.ID)
		if err != nil {
			b.cfg.Logger.Warn("redfishbmc: log services unreadable; watchdog expiries only from events, no correctable memory errors", "endpoint", b.cfg.Endpoint, "err", err)
			return nil
		}
		b.logEntries = paths
	}
	present := map[string]bool{}
	var found []logFind
	skipped := 0
	for _, p := range b.logEntries {
		entries, bad, err := b.readLog(ctx, p)
		if err != nil {
			b.cfg.Logger.Warn("redfishbmc: log unreadable", "endpoint", b.cfg.Endpoint, "log", p, "err", err)
			return nil // a partial read must not look like a cleared log
		}
		skipped += bad
		for _, e := range entries {
			kind := b.kindOf(e, d)
			if kind == logOther {
				continue
			}
			k := e.key()
			if k == "" {
				skipped++
				continue
			}
			if present[k] {
				continue // a page served twice
			}
			present[k] = true
			if !b.logSeen[k] {
				found = append(found, logFind{e, kind})
			}
		}
	}
	if skipped > 0 && !b.logSkipNoted {
		b.logSkipNoted = true // once: the same entries stay in the log
		b.cfg.Logger.Warn("redfishbmc: log entries skipped: undecodable, or without @odata.id and Id", "endpoint", b.cfg.Endpoint, "entries", skipped)
	}
	first := b.logSeen == nil
	b.logSeen = present
	b.wd.logGone(present)
	if first {
		if len(found) > 0 {
			b.cfg.Logger.Info("redfishbmc: watchdog expiries and correctable memory errors already in the log taken as history", "endpoint", b.cfg.Endpoint, "entries", len(found))
		}
		return nil
	}
	var out []bmc.Event
	ecc, dropped := 0, 0
	for _, f := range found {
		e := f.e
		ev := bmc.Event{Time: now, Source: b.sys.Path}
		if t, err := time.Parse(time.RFC3339Nano, e.Created); err == nil {
			ev.Time = t
		}
		switch f.kind {
		case logWatchdog:
			ev.Severity = bmc.SeverityCritical
			ev.Message = trunc("watchdog expired (log " + e.MessageID + "): " + e.Message)
			b.wd.mark(ev.Message, e.key())
		case logCorrectedECC:
			if ecc == maxECCPerRead {
				dropped++
				continue
			}
			ecc++
			ev.Severity, ev.Kind = bmc.SeverityWarning, bmc.EventCorrectableECC
			ev.Source = trunc(firstOf(e.origin(), b.sys.Path))
			ev.Message = trunc("correctable memory error (log " + e.MessageID + "): " + e.Message)
		}
		b.keepForHealth(ev)
		out = append(out, ev)
	}
	if dropped > 0 {
		b.cfg.Logger.Warn("redfishbmc: more new correctable memory errors in the log than one read reports", "endpoint", b.cfg.Endpoint, "reported", ecc, "not_reported", dropped)
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
// maxLogPages and never to a page twice. Members must be inline (as
// services send them); links only are skipped, not fetched one by one.
// A member that does not decode is skipped and counted in bad; a page
// that does not decode fails the read.
func (b *BMC) readLog(ctx context.Context, p string) (out []logEntryDoc, bad int, err error) {
	seen := map[string]bool{}
	for page := 0; p != "" && !seen[p] && page < maxLogPages; page++ {
		seen[p] = true
		var c struct {
			Members  []json.RawMessage
			NextLink string `json:"Members@odata.nextLink"`
			Next     string `json:"@odata.nextLink"`
		}
		if err := b.getJSONQuery(ctx, p, &c); err != nil {
			return nil, 0, err
		}
		for _, m := range c.Members {
			var e logEntryDoc
			if json.Unmarshal(m, &e) != nil {
				bad++
				continue
			}
			out = append(out, e)
		}
		p = firstOf(c.Next, c.NextLink)
	}
	return out, bad, nil
}

// keepForHealth queues ev for the next Health call. When the queue is
// full the oldest event that is not critical makes room (the oldest of
// all when every one is), so that a burst of warnings never pushes out
// a watchdog expiry.
func (b *BMC) keepForHealth(ev bmc.Event) {
	b.evMu.Lock()
	defer b.evMu.Unlock()
	if len(b.pending) >= eventBuffer {
		drop := 0
		for i, e := range b.pending {
			if e.Severity != bmc.SeverityCritical {
				drop = i
				break
			}
		}
		b.pending = slices.Delete(b.pending, drop, drop+1)
	}
	b.pending = append(b.pending, ev)
}
