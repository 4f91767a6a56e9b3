package redfishsim

import (
	"net/http"
	"strings"
	"time"
)

// Fault is a misbehaviour injected into the answers for some paths.
// Several kinds may be combined; Latency comes first.
type Fault struct {
	// Path: requests whose path starts with this are hit; "" hits all.
	Path string
	// Method: only this method is hit; "" hits all.
	Method string
	// Times: how many requests are hit; 0 hits every one until ClearFaults.
	Times int
	// Latency before answering (or before the other faults).
	Latency time.Duration
	// Status answers with this HTTP status and a Redfish error body (with
	// Oversize or Body: that body under this status).
	Status int
	// ContentType replaces the Content-Type of a Status, Oversize or Body
	// answer (say text/event-stream, to claim a stream).
	ContentType string
	// Malformed answers 200 with a truncated JSON body.
	Malformed bool
	// Drop closes the connection without an answer.
	Drop bool
	// Oversize answers 200 with a syntactically valid JSON body of this
	// many bytes.
	Oversize int
	// Body answers 200 with exactly these bytes (edge-case fixtures).
	Body []byte
	// Redirect answers 307 to this URL.
	Redirect string
}

// Inject adds a fault; faults are matched in the order injected.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the first fault matching p and uses one of its
// times; s.mu held.
func (s *Server) takeFault(method, p string) *Fault {
	for i, f := range s.faults {
		if !strings.HasPrefix(p, f.Path) || (f.Method != "" && f.Method != method) {
			continue
		}
		c := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &c
	}
	return nil
}

// applyFault answers per f; it reports whether the request is answered.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	switch {
	case f.Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // aborts the response without an answer
	case f.Status != 0 && f.Oversize == 0 && f.Body == nil:
		if f.ContentType != "" {
			w.Header().Set("Content-Type", f.ContentType)
		}
		writeError(w, f.Status, "InternalError", "injected fault")
	case f.Malformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"@odata.id": "/redfish/v1/x", "Status": {"Health": `))
	case f.Oversize > 0:
		f.header(w)
		_, _ = w.Write([]byte(`{"Pad":"`))
		chunk := []byte(strings.Repeat("x", 4096))
		for n := f.Oversize - 10; n > 0; n -= len(chunk) {
			if n < len(chunk) {
				chunk = chunk[:n]
			}
			if _, err := w.Write(chunk); err != nil {
				return true
			}
		}
		_, _ = w.Write([]byte(`"}`))
	case f.Redirect != "":
		http.Redirect(w, r, f.Redirect, http.StatusTemporaryRedirect)
	case f.Body != nil:
		f.header(w)
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		_, _ = w.Write(f.Body)
	default:
		return false
	}
	return true
}

// header writes the Content-Type and status of an Oversize or Body answer.
func (f *Fault) header(w http.ResponseWriter) {
	ct := "application/json"
	if f.ContentType != "" {
		ct = f.ContentType
	}
	w.Header().Set("Content-Type", ct)
	if f.Status != 0 {
		w.Header().Set("OData-Version", "4.0")
		w.WriteHeader(f.Status)
	}
}
