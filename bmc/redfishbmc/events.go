package redfishbmc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
// reconnecting with backoff (Config.ReconnectMin..ReconnectMax), and
// polls the system every Config.PollInterval all along: while the stream
// is down or absent, and while it is open but silent. Polling turns a
// change of PowerState or Status into an event ("polled: ..."), and a
// reconnect delivers one too, since events may have been missed. A
// stream that gives no valid event for Config.StallTimeout (keep-alives
// and garbage do not count) is dropped; the backoff starts over only
// after a valid event. Only events about this system, its chassis or its
// enclosure (or naming no origin) are delivered. Each event is also kept
// for the next Health call.
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
	uri, sseKnown := "", false
	backoff := b.cfg.ReconnectMin
	for ctx.Err() == nil && !b.isClosed() {
		if !sseKnown {
			var err error
			uri, err = b.sseURI(ctx)
			sseKnown = err == nil
			if sseKnown && uri == "" {
				// No SSE: polling alone, until the end.
				select {
				case <-ctx.Done():
				case <-b.closed:
				}
				return
			}
		}
		if uri != "" {
			connected, valid, err := b.stream(ctx, uri, ch, mine)
			if ctx.Err() != nil || b.isClosed() {
				return
			}
			if valid {
				backoff = b.cfg.ReconnectMin
			}
			log.Warn("redfishbmc: event stream ended; polling until reconnect", "endpoint", b.cfg.Endpoint, "err", err, "retry_in", backoff)
			select {
			case pollNow <- struct{}{}:
			default:
			}
			if connected {
				b.deliver(ch, bmc.Event{Time: time.Now(), Source: b.sys.Path, Severity: bmc.SeverityWarning,
					Message: "event stream interrupted: events may have been missed"})
			}
		}
		if b.sleep(ctx, backoff) != nil {
			return
		}
		backoff = min(2*backoff, b.cfg.ReconnectMax)
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

// sseURI returns the EventService's ServerSentEventUri, "" when the
// service has none; an error when it could not be read.
func (b *BMC) sseURI(ctx context.Context) (string, error) {
	var root struct{ EventService *odataRef }
	if err := b.getJSON(ctx, "/redfish/v1/", &root); err != nil {
		return "", err
	}
	if root.EventService == nil || root.EventService.ID == "" {
		return "", nil
	}
	var es struct {
		ServerSentEventURI string `json:"ServerSentEventUri"`
		ServiceEnabled     *bool
	}
	if err := b.getJSON(ctx, root.EventService.ID, &es); err != nil {
		return "", err
	}
	if es.ServiceEnabled != nil && !*es.ServiceEnabled {
		return "", nil
	}
	return es.ServerSentEventURI, nil
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
// whether it was opened, valid whether it gave a valid event.
func (b *BMC) stream(ctx context.Context, uri string, ch chan bmc.Event, mine []string) (connected, valid bool, err error) {
	p, err := b.link(uri)
	if err != nil {
		return false, false, err
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
		return api.GetWithHeaders(p, map[string]string{"Accept": "text/event-stream"})
	})
	if err != nil {
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
	for {
		m, err := rd.Next()
		if err != nil {
			if sctx.Err() != nil && ctx.Err() == nil && !b.isClosed() {
				err = fmt.Errorf("%w: event stream gave no valid event for %v", bmc.ErrUnreachable, b.cfg.StallTimeout)
			}
			return true, valid, err
		}
		evs, err := parseEvent(m.Data)
		if err != nil {
			b.cfg.Logger.Warn("redfishbmc: event skipped", "endpoint", b.cfg.Endpoint, "err", err)
			continue
		}
		valid = true
		stalled.Reset(b.cfg.StallTimeout)
		for _, ev := range evs {
			if concerns(ev.Source, mine) {
				b.deliver(ch, ev)
			}
		}
	}
}

// deliver queues ev for the reader and for Health, dropping the oldest
// when full.
func (b *BMC) deliver(ch chan bmc.Event, ev bmc.Event) {
	b.evMu.Lock()
	if len(b.pending) >= eventBuffer {
		b.pending = b.pending[1:]
	}
	b.pending = append(b.pending, ev)
	b.evMu.Unlock()
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

// parseEvent converts one SSE data payload into events. Metric reports
// give none.
func parseEvent(data []byte) ([]bmc.Event, error) {
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
	out := make([]bmc.Event, 0, len(*d.Events))
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
		out = append(out, ev)
	}
	return out, nil
}
