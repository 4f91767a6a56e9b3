package rackhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzSSE: the SSE parser never panics, never returns an event over its
// bound, and reads back what appendEvent wrote. Seeds in testdata/fuzz.
func FuzzSSE(f *testing.F) {
	f.Add([]byte("event: status\ndata: {}\n\n"))
	f.Add([]byte(":\n\n: hb\r\n\r\ndata: a\ndata: b\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		const max = 256
		s := newSSEReader(bytes.NewReader(stream), max)
		for range len(stream) + 1 {
			ev, err := s.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrEventTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(ev.Data)+len(ev.Event) > max {
				t.Fatalf("event of %d bytes past the bound %d", len(ev.Data)+len(ev.Event), max)
			}
		}
		// Round trip: one line of data without line ends.
		data := bytes.Map(func(r rune) rune {
			if r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, stream)
		s = newSSEReader(bytes.NewReader(appendEvent(nil, "status", data)), len(data)+64)
		ev, err := s.Next()
		if err != nil || ev.Event != "status" || !bytes.Equal(ev.Data, data) {
			t.Fatalf("round trip of %q: %q %q %v", data, ev.Event, ev.Data, err)
		}
	})
}

// FuzzPowerRequest: the power request decoder never panics, and what it
// accepts names a server and a known action, and survives re-encoding.
func FuzzPowerRequest(f *testing.F) {
	f.Add([]byte(`{"server":"s2","action":"off"}`))
	f.Add([]byte(`{"server":"s2","action":"cycle"} `))
	f.Fuzz(func(t *testing.T, body []byte) {
		server, action, err := decodePowerRequest(bytes.NewReader(body))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error with no text")
			}
			return
		}
		name, ok := actionName(action)
		if server == "" || !ok {
			t.Fatalf("accepted server %q action %v", server, action)
		}
		again := `{"server":` + quoteJSON(server) + `,"action":"` + name + `"}`
		s2, a2, err := decodePowerRequest(strings.NewReader(again))
		if err != nil || s2 != server || a2 != action {
			t.Fatalf("re-encoded %s: %q %v %v", again, s2, a2, err)
		}
	})
}

// FuzzStatus: the status decoder never panics; what it accepts encodes
// and decodes to the same JSON.
func FuzzStatus(f *testing.F) {
	f.Add([]byte(`{"Server":"s1","Time":"2026-01-01T00:00:00Z","Reachable":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeStatus(data)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		b1, err := encodeStatus(st)
		if err != nil {
			t.Fatalf("accepted status does not encode: %v", err)
		}
		st2, err := decodeStatus(b1)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b1, err)
		}
		b2, err := encodeStatus(st2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("not stable:\n%s\n%s (%v)", b1, b2, err)
		}
	})
}

func quoteJSON(s string) string {
	var b strings.Builder
	_ = jsonEncoder(&b).Encode(s)
	return strings.TrimSpace(b.String())
}

func jsonEncoder(w io.Writer) interface{ Encode(any) error } {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}
