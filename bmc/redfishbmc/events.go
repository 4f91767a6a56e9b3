package redfishbmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stmcginnis/gofish"

	"github.com/rackha/failover/bmc"
)

// EventSource is bmc.EventSource: rack.Local reads a blade's status at
// once for each event instead of waiting for its next poll.
type EventSource = bmc.EventSource

var _ EventSource = (*BMC)(nil)

// eventBuffer is how many events wait for a reader (and for Health).
const eventBuffer = 64

// Events follows the EventService's SSE stream when the service has one,
// reconnecting with backoff (Config.ReconnectMin..ReconnectMax, or the
// stream's retry field when longer, never past ReconnectMax), and polls
// the system every Config.PollInterval all along: while the stream is
// down or absent, and while it is open but silent. A reconnect sends
// Last-Event-ID, so a service that keeps its events replays those of a
// short drop. Polling turns a change of PowerState or Status into an
// event ("polled: ..."), and a reconnect delivers one too, since events
// may have been missed. Events were lost when the service says so (Base
// EventBufferExceeded) or the numeric event ids of an unfiltered stream
// skip some: then an event saying so is delivered, and the consumer's
// read of the status it triggers (rack.Local reads a server in full for
// each event) catches up. Where the service root says
// ProtocolFeaturesSupported.FilterQuery (and the EventService does not
// deny OriginResource in SSEFilterPropertiesSupported), the stream is
// asked with $filter for the events of this system, its chassis and its
// enclosure; a service that refuses the filter is followed unfiltered. A
// stream that gives no valid event for Config.StallTimeout (keep-alives
// and garbage do not count) is dropped; the backoff starts over only
// after a valid event. Only events about this system, its chassis or its
// enclosure (or naming no origin) are delivered. A watchdog expiry
// about this system (see State) is delivered with SeverityCritical and
// sets State's Expired. Polling also reads the system's log (see
// scanLog) and delivers its new watchdog expiries and correctable memory
// errors; an ECC event on the stream is delivered but never counted
// (Kind ""), since the service logs it too. Each event is also kept for
// the next Health call.
func (b *BMC) Events(ctx context.Context) (<-chan bmc.Event, error) {
	if _, _, err := b.client(ctx); err != nil {
		return nil, err
	}
	ch := make(chan bmc.Event, eventBuffer)
	go b.runEvents(ctx, ch)
	return ch, nil
}

// eventState is what polling compares.
type eventState struct {
	power, health, rollup, state string
}

// streamState is what one Events run carries from stream to stream.
type streamState struct {
	lastID  string        // sent as Last-Event-ID on the next connect
	retry   time.Duration // the service's retry field; 0: none
	prev    int64         // the last numeric event id seen
	hasPrev bool
	filter  string // the $filter in use; "" none
}

// errFilterRefused: the service answered 400 to the $filter.
var errFilterRefused = errors.New("event stream $filter refused")

func (b *BMC) runEvents(ctx context.Context, ch chan bmc.Event) {
	defer close(ch)
	ctx, cancel := context.WithCancel(ctx)
	pollNow := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.pollLoop(ctx, ch, pollNow)
	}()
	defer wg.Wait()
	defer cancel()

	log := b.cfg.Logger
	mine := b.relatedPaths(ctx)
	var info sseInfo
	known := false
	st := &streamState{}
	backoff := b.cfg.ReconnectMin
	for ctx.Err() == nil && !b.isClosed() {
		if !known {
			var err error
			info, err = b.sseInfo(ctx)
			known = err == nil
			if known && info.uri == "" {
				// No SSE: polling alone, until the end.
				select {
				case <-ctx.Done():
				case <-b.closed:
				}
				return
			}
			if known && info.filterable {
				st.filter = originFilter(mine)
			}
		}
		if info.uri != "" {
			connected, valid, err := b.stream(ctx, info.uri, ch, mine, st, pollNow)
			if ctx.Err() != nil || b.isClosed() {
				return
			}
			if valid {
				backoff = b.cfg.ReconnectMin
			}
			if errors.Is(err, errFilterRefused) {
				log.Warn("redfishbmc: the service refused the event stream's $filter; following it unfiltered", "endpoint", b.cfg.Endpoint, "err", err)
				st.filter = ""
				continue
			}
			log.Warn("redfishbmc: event stream ended; polling until reconnect", "endpoint", b.cfg.Endpoint, "err", err, "retry_in", reconnectDelay(backoff, st.retry, b.cfg.ReconnectMax))
			nudge(pollNow)
			if connected {
				b.deliver(ch, bmc.Event{Time: time.Now(), Source: b.sys.Path, Severity: bmc.SeverityWarning,
					Message: "event stream interrupted: events may have been missed"})
			}
		}
		if b.sleep(ctx, reconnectDelay(backoff, st.retry, b.cfg.ReconnectMax)) != nil {
			return
		}
		backoff = min(2*backoff, b.cfg.ReconnectMax)
	}
}

// reconnectDelay is the wait before a reconnect: the backoff, or the
// stream's retry field when longer, at most max.
func reconnectDelay(backoff, retry, limit time.Duration) time.Duration {
	return min(max(backoff, retry), limit)
}

func nudge(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// pollLoop reads the system every PollInterval (and at once on pollNow)
// and delivers an event when its state changed.
func (b *BMC) pollLoop(ctx context.Context, ch chan bmc.Event, pollNow <-chan struct{}) {
	last, known := eventState{}, false
	t := time.NewTicker(b.cfg.PollInterval)
	defer t.Stop()
	for {
		if d, err := b.readSystem(ctx); err == nil { // unreachable is not a change; the rack's own poll reports it
			cur := eventState{d.PowerState, d.Status.Health, d.Status.HealthRollup, d.Status.State}
			if known && cur != last {
				sev := bmc.SeverityInfo
				if cur.health == "Critical" || cur.power == "Off" {
					sev = bmc.SeverityCritical
				} else if cur.health == "Warning" {
					sev = bmc.SeverityWarning
				}
				b.deliver(ch, bmc.Event{Time: time.Now(), Source: b.sys.Path, Severity: sev,
					Message: fmt.Sprintf("polled: PowerState %s, Health %s, HealthRollup %s, State %s", trunc(cur.power), trunc(cur.health), trunc(cur.rollup), trunc(cur.state))})
			}
			last, known = cur, true
			for _, ev := range b.scanLog(ctx, d, false) {
				b.send(ch, ev) // scanLog kept it for Health
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-b.closed:
			return
		case <-t.C:
		case <-pollNow:
		}
	}
}

// sseInfo is what the service says of its event stream.
type sseInfo struct {
	uri        string // ServerSentEventUri; "" none
	filterable bool   // $filter on OriginResource is supported
}

// sseInfo reads the EventService's ServerSentEventUri ("" when the
// service has none) and whether the stream takes a $filter; an error
// when they could not be read.
func (b *BMC) sseInfo(ctx context.Context) (sseInfo, error) {
	var root struct {
		EventService              *odataRef
		ProtocolFeaturesSupported *struct{ FilterQuery *bool }
	}
	if err := b.getJSON(ctx, "/redfish/v1/", &root); err != nil {
		return sseInfo{}, err
	}
	if root.EventService == nil || root.EventService.ID == "" {
		return sseInfo{}, nil
	}
	var es struct {
		ServerSentEventURI           string `json:"ServerSentEventUri"`
		ServiceEnabled               *bool
		SSEFilterPropertiesSupported *struct{ OriginResource *bool }
	}
	if err := b.getJSON(ctx, root.EventService.ID, &es); err != nil {
		return sseInfo{}, err
	}
	if es.ServiceEnabled != nil && !*es.ServiceEnabled {
		return sseInfo{}, nil
	}
	pf, sf := root.ProtocolFeaturesSupported, es.SSEFilterPropertiesSupported
	return sseInfo{
		uri:        es.ServerSentEventURI,
		filterable: pf != nil && pf.FilterQuery != nil && *pf.FilterQuery && (sf == nil || sf.OriginResource == nil || *sf.OriginResource),
	}, nil
}

// originFilter is the $filter asking for events about paths.
func originFilter(paths []string) string {
	clauses := make([]string, len(paths))
	for i, p := range paths {
		clauses[i] = "OriginResource eq '" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	return strings.Join(clauses, " or ")
}

// relatedPaths lists the resources whose events concern this system.
func (b *BMC) relatedPaths(ctx context.Context) []string {
	out := []string{norm(b.sys.Path)}
	d, err := b.readSystem(ctx)
	if err != nil {
		return out
	}
	for _, l := range d.Links.Chassis {
		out = append(out, norm(l.ID))
		var c chassisDoc
		if b.getJSON(ctx, l.ID, &c) == nil && c.Links.ContainedBy != nil && c.Links.ContainedBy.ID != "" {
			out = append(out, norm(c.Links.ContainedBy.ID))
		}
	}
	return out
}

// concerns reports whether an event's origin is one of paths or below.
func concerns(origin string, paths []string) bool {
	if origin == "" {
		return true
	}
	o := norm(origin)
	for _, p := range paths {
		if o == p || strings.HasPrefix(o, p+"/") {
			return true
		}
	}
	return false
}

// stream reads the SSE stream until it ends or stalls: connected says
// whether it was opened, valid whether it gave a valid event. st carries
// the last event id, the retry time and the filter across streams.
func (b *BMC) stream(ctx context.Context, uri string, ch chan bmc.Event, mine []string, st *streamState, pollNow chan<- struct{}) (connected, valid bool, err error) {
	p, err := b.link(uri)
	if err != nil {
		return false, false, err
	}
	req := p
	if st.filter != "" {
		req += "?$filter=" + strings.ReplaceAll(url.QueryEscape(st.filter), "+", "%20")
	}
	hdr := map[string]string{"Accept": "text/event-stream"}
	if st.lastID != "" {
		hdr["Last-Event-ID"] = st.lastID
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-b.closed:
			cancel()
		case <-sctx.Done():
		}
	}()
	resp, err := b.do(withStreaming(sctx), func(api *gofish.APIClient) (*http.Response, error) {
		return api.GetWithHeaders(req, hdr)
	})
	if err != nil {
		if st.filter != "" && httpStatus(err) == http.StatusBadRequest {
			return false, false, fmt.Errorf("%w: GET %s: %s", errFilterRefused, p, trunc(errMessage(err)))
		}
		return false, false, classify("GET", p, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, false, fmt.Errorf("%w: GET %s: Content-Type %q is not text/event-stream", bmc.ErrMalformed, p, trunc(ct))
	}
	// Only a valid event pushes the stall timer back: a stream that
	// trickles keep-alives or garbage is as dead as a silent one.
	stalled := time.AfterFunc(b.cfg.StallTimeout, cancel)
	defer stalled.Stop()
	rd := newSSEReader(resp.Body)
	rd.lastID = st.lastID
	defer func() {
		if rd.retry > 0 {
			st.retry = rd.retry
		}
	}()
	for {
		m, err := rd.Next()
		if err != nil {
			if sctx.Err() != nil && ctx.Err() == nil && !b.isClosed() {
				err = fmt.Errorf("%w: event stream gave no valid event for %v", bmc.ErrUnreachable, b.cfg.StallTimeout)
			}
			return true, valid, err
		}
		if rd.retry > 0 {
			st.retry = rd.retry
		}
		if m.ID != st.lastID {
			st.lastID = m.ID
			b.checkGap(st, m.ID, ch, pollNow)
		}
		evs, err := parseEvent(m.Data)
		if err != nil {
			b.cfg.Logger.Warn("redfishbmc: event skipped", "endpoint", b.cfg.Endpoint, "err", err)
			continue
		}
		valid = true
		stalled.Reset(b.cfg.StallTimeout)
		for _, ev := range evs {
			switch {
			case messageKey(ev.MessageID) == "EventBufferExceeded":
				b.lost(ch, pollNow, "the service's event buffer overflowed ("+trunc(ev.MessageID)+")")
			case !concerns(ev.Source, mine):
			case isWatchdogExpiry(ev.MessageID) && b.watchdogConcerns(ev.Source):
				ev.Severity = bmc.SeverityCritical
				ev.Message = trunc("watchdog expired (" + ev.MessageID + "): " + ev.Message)
				b.wd.mark(ev.Message, "")
				b.deliver(ch, ev.Event)
			default:
				b.deliver(ch, ev.Event)
			}
		}
	}
}

// checkGap tells a loss when the numeric ids of an unfiltered stream
// skip some (a filtered stream's ids skip the events filtered out).
func (b *BMC) checkGap(st *streamState, id string, ch chan bmc.Event, pollNow chan<- struct{}) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		st.hasPrev = false // ids that are no counter tell nothing
		return
	}
	if st.hasPrev && n > st.prev+1 && st.filter == "" {
		b.lost(ch, pollNow, fmt.Sprintf("event ids %d to %d never arrived", st.prev+1, n-1))
	}
	st.prev, st.hasPrev = n, true
}

// lost delivers the event that says events were lost, so the consumer
// reads the status in full, and polls at once.
func (b *BMC) lost(ch chan bmc.Event, pollNow chan<- struct{}, why string) {
	b.cfg.Logger.Warn("redfishbmc: events lost; reading the status in full", "endpoint", b.cfg.Endpoint, "why", why)
	b.deliver(ch, bmc.Event{Time: time.Now(), Source: b.sys.Path, Severity: bmc.SeverityWarning,
		Message: "events lost: " + why + "; status read in full"})
	nudge(pollNow)
}

// watchdogConcerns: a watchdog event is about this system when it names
// the system (or below), or names nothing on a service of one system.
func (b *BMC) watchdogConcerns(origin string) bool {
	if origin == "" {
		return b.single
	}
	return concerns(origin, []string{norm(b.sys.Path)})
}

// deliver queues ev for the reader and for Health, dropping the oldest
// when full.
func (b *BMC) deliver(ch chan bmc.Event, ev bmc.Event) {
	b.keepForHealth(ev)
	b.send(ch, ev)
}

// send queues ev for the reader only, dropping the oldest when full.
func (b *BMC) send(ch chan bmc.Event, ev bmc.Event) {
	for {
		select {
		case ch <- ev:
			return
		default:
		}
		select {
		case <-ch: // drop the oldest
		default:
		}
	}
}

// eventDoc is a Redfish Event resource as sent on the stream.
type eventDoc struct {
	ODataType string `json:"@odata.type"`
	Events    *[]struct {
		EventTimestamp    string
		MessageID         string `json:"MessageId"`
		Message           string
		MessageSeverity   string
		Severity          string
		OriginOfCondition json.RawMessage
	}
}

// rfEvent is one event record: the bmc.Event and its MessageId.
type rfEvent struct {
	bmc.Event
	MessageID string
}

// parseEvent converts one SSE data payload into events. Metric reports
// give none.
func parseEvent(data []byte) ([]rfEvent, error) {
	var d eventDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%w: event: %v", bmc.ErrMalformed, err)
	}
	if strings.Contains(d.ODataType, "MetricReport") {
		return nil, nil
	}
	if d.Events == nil {
		return nil, fmt.Errorf("%w: event without an Events array", bmc.ErrMalformed)
	}
	out := make([]rfEvent, 0, len(*d.Events))
	for _, e := range *d.Events {
		ev := bmc.Event{Message: trunc(firstOf(e.Message, e.MessageID)), Time: time.Now()}
		if t, err := time.Parse(time.RFC3339Nano, e.EventTimestamp); err == nil {
			ev.Time = t
		}
		switch firstOf(e.MessageSeverity, e.Severity) {
		case "Critical":
			ev.Severity = bmc.SeverityCritical
		case "Warning":
			ev.Severity = bmc.SeverityWarning
		}
		if len(e.OriginOfCondition) > 0 {
			var ref odataRef
			var s string
			if json.Unmarshal(e.OriginOfCondition, &ref) == nil {
				ev.Source = ref.ID
			} else if json.Unmarshal(e.OriginOfCondition, &s) == nil {
				ev.Source = s
			} else if string(e.OriginOfCondition) != "null" {
				return nil, fmt.Errorf("%w: event OriginOfCondition is neither a link nor a string", bmc.ErrMalformed)
			}
		}
		ev.Source = trunc(ev.Source)
		out = append(out, rfEvent{Event: ev, MessageID: trunc(e.MessageID)})
	}
	return out, nil
}
