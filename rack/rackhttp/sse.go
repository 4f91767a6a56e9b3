package rackhttp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	Event string // "message" when the stream named none
	Data  []byte
}

// appendEvent appends one SSE event to b. data must hold no newline
// (JSON from encoding/json never does).
func appendEvent(b []byte, event string, data []byte) []byte {
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// heartbeat is an SSE comment: it keeps an idle stream's bytes flowing.
var heartbeat = []byte(":\n\n")

// sseReader parses a text/event-stream (the WHATWG format): lines end in
// LF or CRLF, "field: value", a blank line dispatches, a line starting
// with ':' is a comment. An event (its field lines together) over max
// bytes is an ErrEventTooLarge naming the size.
type sseReader struct {
	r   *bufio.Reader
	max int
}

func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 4096), max: max}
}

// Next returns the next event; io.EOF at the end of the stream (an
// event not ended by a blank line is not dispatched, as the format says).
func (s *sseReader) Next() (sseEvent, error) {
	var ev sseEvent
	var data []byte
	hasData := false
	size := 0
	for {
		line, err := s.line(s.max - size)
		if err != nil {
			if errors.Is(err, ErrEventTooLarge) {
				return sseEvent{}, fmt.Errorf("%w: over %d bytes", ErrEventTooLarge, s.max)
			}
			return sseEvent{}, err
		}
		size += len(line) + 1
		if len(line) == 0 {
			if !hasData {
				ev.Event, size = "", 0 // nothing to dispatch: start afresh
				continue
			}
			if ev.Event == "" {
				ev.Event = "message"
			}
			ev.Data = data
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Event = string(value)
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		}
		// id, retry and unknown fields are ignored.
	}
}

// line reads one line without its end; longer than limit bytes is
// ErrEventTooLarge.
func (s *sseReader) line(limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(line)+len(chunk) > limit+1 { // +1: the LF
			return nil, ErrEventTooLarge
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			line = line[:len(line)-1]
			return bytes.TrimSuffix(line, []byte("\r")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}
