package redfishsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Event is one Redfish event record to publish on the SSE stream.
type Event struct {
	Origin    string // OriginOfCondition, a resource path
	MessageID string // e.g. ResourceEvent.1.0.ResourceStatusChangedCritical
	Message   string
	Severity  string // OK, Warning, Critical
}

// SSEConnect is one request for the SSE stream as the server saw it.
type SSEConnect struct {
	LastEventID string // the Last-Event-ID header, "" none
	Filter      string // the $filter query, "" none
	Refused     bool   // answered 400 (a $filter the service does not support or parse)
	Replayed    int    // events replayed after LastEventID
}

// published is one event kept for replay.
type published struct {
	seq    int
	origin string
	frame  []byte // the whole SSE frame, id and data
}

type stream struct {
	ch     chan []byte
	done   chan struct{}
	filter []string // OriginResource paths; nil: every event
	lost   atomic.Bool
}

// streamBuffer is how many frames wait for a slow stream reader; past
// it the stream loses events and is sent an EventBufferExceeded.
const streamBuffer = 64

// SSEURI returns the EventService's ServerSentEventUri, or "".
func (s *Server) SSEURI() string { return s.sseURI }

// Streams returns how many SSE streams are open.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Connects returns every SSE request so far, in order.
func (s *Server) Connects() []SSEConnect {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SSEConnect(nil), s.connects...)
}

// Publish sends ev as a Redfish Event, with the next event id, to every
// open stream whose $filter it passes, keeps it for replay
// (Options.EventHistory) and returns how many streams it was queued on.
// A stream whose reader lags 64 events behind loses the event and is
// sent a Base EventBufferExceeded event once it catches up.
func (s *Server) Publish(ev Event) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventSeq++
	seq := s.eventSeq
	rec := map[string]any{
		"EventId":         fmt.Sprint(seq),
		"EventTimestamp":  time.Now().UTC().Format(time.RFC3339Nano),
		"MessageId":       ev.MessageID,
		"Message":         ev.Message,
		"MessageSeverity": ev.Severity,
	}
	if ev.Origin != "" {
		rec["OriginOfCondition"] = map[string]any{"@odata.id": ev.Origin}
	}
	b, _ := json.Marshal(map[string]any{
		"@odata.type": "#Event.v1_7_0.Event",
		"Id":          fmt.Sprint(seq),
		"Name":        "Event",
		"Events":      []any{rec},
	})
	p := published{seq: seq, origin: ev.Origin, frame: fmt.Appendf(nil, "id: %d\ndata: %s\n\n", seq, b)}
	keep := s.opts.EventHistory
	if keep <= 0 {
		keep = 256
	}
	if len(s.history) >= keep {
		s.history = append(s.history[:0:0], s.history[len(s.history)-keep+1:]...)
	}
	s.history = append(s.history, p)
	n := 0
	for st := range s.streams {
		if passes(st.filter, ev.Origin) && st.send(p.frame) {
			n++
		}
	}
	return n
}

// SkipEventIDs advances the event id by n without publishing: the next
// event's id shows a gap, as when a service drops events.
func (s *Server) SkipEventIDs(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventSeq += n
}

// PublishRaw writes b unchanged to every open stream (for malformed
// events, retry fields, ids of the test's choosing); b should end with a
// blank line. It is not kept for replay.
func (s *Server) PublishRaw(b []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for st := range s.streams {
		if st.send(b) {
			n++
		}
	}
	return n
}

// send queues b, or marks the stream as having lost an event.
func (st *stream) send(b []byte) bool {
	select {
	case st.ch <- b:
		return true
	default:
		st.lost.Store(true)
		return false
	}
}

// DropStreams ends every open SSE stream, as a BMC restart would.
func (s *Server) DropStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		close(st.done)
		delete(s.streams, st)
	}
}

// bufferExceeded is the frame a stream that lost events is sent: a Base
// EventBufferExceeded message, without an id (it is no event of the
// sequence).
func bufferExceeded() []byte {
	b, _ := json.Marshal(map[string]any{
		"@odata.type": "#Event.v1_7_0.Event",
		"Id":          "buffer",
		"Name":        "Event",
		"Events": []any{map[string]any{
			"EventTimestamp":  time.Now().UTC().Format(time.RFC3339Nano),
			"MessageId":       "Base.1.15.EventBufferExceeded",
			"Message":         "Event buffer exceeded: events were lost.",
			"MessageSeverity": "Warning",
			// What real services name varies; the EventService is one.
			"OriginOfCondition": map[string]any{"@odata.id": Root + "/EventService"},
		}},
	})
	return fmt.Appendf(nil, "data: %s\n\n", b)
}

// PublishBufferExceeded sends every open stream a Base
// EventBufferExceeded event, as a service that dropped events does.
func (s *Server) PublishBufferExceeded() int { return s.PublishRaw(bufferExceeded()) }

// filterSupported: the service root's ProtocolFeaturesSupported.FilterQuery.
func (s *Server) filterSupported() bool {
	pf, _ := s.res[Root]["ProtocolFeaturesSupported"].(map[string]any)
	v, _ := pf["FilterQuery"].(bool)
	return v
}

// parseFilter reads the $filter subset the server supports for SSE:
// OriginResource eq '<path>' clauses joined by "or", each optionally in
// parentheses. An event passes when it names no origin (service-wide
// messages) or its origin is one of the paths or below one.
func parseFilter(q string) ([]string, error) {
	var out []string
	for _, c := range strings.Split(q, " or ") {
		c = strings.TrimSpace(c)
		c = strings.TrimSuffix(strings.TrimPrefix(c, "("), ")")
		v, ok := strings.CutPrefix(c, "OriginResource eq '")
		if !ok || !strings.HasSuffix(v, "'") || len(v) < 2 {
			return nil, fmt.Errorf("unsupported $filter clause %q", c)
		}
		out = append(out, clean(strings.TrimSuffix(v, "'")))
	}
	return out, nil
}

func passes(filter []string, origin string) bool {
	if filter == nil || origin == "" {
		return true
	}
	o := clean(origin)
	for _, p := range filter {
		if o == p || strings.HasPrefix(o, p+"/") {
			return true
		}
	}
	return false
}

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "InternalError", "streaming unsupported")
		return
	}
	conn := SSEConnect{LastEventID: r.Header.Get("Last-Event-ID"), Filter: r.URL.Query().Get("$filter")}
	st := &stream{ch: make(chan []byte, streamBuffer), done: make(chan struct{})}
	s.mu.Lock()
	var ferr error
	switch {
	case conn.Filter != "" && !s.filterSupported():
		ferr = fmt.Errorf("the service does not support $filter")
	case conn.Filter != "":
		st.filter, ferr = parseFilter(conn.Filter)
	}
	conn.Refused = ferr != nil
	s.connects = append(s.connects, conn)
	if ferr != nil {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "QueryNotSupported", ferr.Error())
		return
	}
	// Replay and registration under one lock: no event is both replayed
	// and queued, none falls between.
	var replay [][]byte
	if last, err := strconv.Atoi(conn.LastEventID); err == nil {
		if len(s.history) > 0 && s.history[0].seq > last+1 || len(s.history) == 0 && s.eventSeq > last {
			replay = append(replay, bufferExceeded()) // the resumption point left the buffer
		}
		for _, p := range s.history {
			if p.seq > last && passes(st.filter, p.origin) {
				replay = append(replay, p.frame)
				s.connects[len(s.connects)-1].Replayed++
			}
		}
	}
	s.streams[st] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, st)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	for _, b := range replay {
		if _, err := w.Write(b); err != nil {
			return
		}
	}
	fl.Flush()
	var beat <-chan time.Time
	if s.opts.Heartbeat > 0 {
		t := time.NewTicker(s.opts.Heartbeat)
		defer t.Stop()
		beat = t.C
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-st.done:
			return
		case <-beat:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			fl.Flush()
		case b := <-st.ch:
			if _, err := w.Write(b); err != nil {
				return
			}
			if len(st.ch) == 0 && st.lost.Swap(false) {
				if _, err := w.Write(bufferExceeded()); err != nil {
					return
				}
			}
			fl.Flush()
		}
	}
}
