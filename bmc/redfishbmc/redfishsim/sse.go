package redfishsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Event is one Redfish event record to publish on the SSE stream.
type Event struct {
	Origin    string // OriginOfCondition, a resource path
	MessageID string // e.g. ResourceEvent.1.0.ResourceStatusChangedCritical
	Message   string
	Severity  string // OK, Warning, Critical
}

type stream struct {
	ch   chan []byte
	done chan struct{}
}

// SSEURI returns the EventService's ServerSentEventUri, or "".
func (s *Server) SSEURI() string { return s.sseURI }

// Streams returns how many SSE streams are open.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Publish sends ev as a Redfish Event to every open stream and returns
// how many streams it was queued on. A stream whose reader lags 64 events
// behind loses the event.
func (s *Server) Publish(ev Event) int {
	s.mu.Lock()
	s.eventSeq++
	seq := s.eventSeq
	s.mu.Unlock()
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
	return s.PublishRaw(fmt.Appendf(nil, "id: %d\ndata: %s\n\n", seq, b))
}

// PublishRaw writes b unchanged to every open stream (for malformed
// events); b should end with a blank line.
func (s *Server) PublishRaw(b []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for st := range s.streams {
		select {
		case st.ch <- b:
			n++
		default:
		}
	}
	return n
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

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "InternalError", "streaming unsupported")
		return
	}
	st := &stream{ch: make(chan []byte, 64), done: make(chan struct{})}
	s.mu.Lock()
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
			fl.Flush()
		}
	}
}
