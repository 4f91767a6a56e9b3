package redfishbmc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

// SSE limits: a line or a whole event beyond these ends the stream.
const (
	maxSSELine  = 64 << 10
	maxSSEEvent = 1 << 20
)

var errSSETooLong = errors.New("event stream line or event too long")

// sseMessage is one dispatched Server-Sent Event. ID is the last event
// id seen on the stream (it persists over events that carry none).
type sseMessage struct {
	ID, Event string
	Data      []byte
}

// maxSSERetry bounds a retry field before Config.ReconnectMax does.
const maxSSERetry = 24 * time.Hour

// sseReader parses a text/event-stream per the WHATWG rules that matter
// here: data/id/event/retry fields, comments, CR LF or LF line ends,
// dispatch on a blank line. The last event id and the retry time persist
// across events, as the spec has it.
type sseReader struct {
	r      *bufio.Reader
	skipLF bool // the last line ended with CR: a LF next is part of it
	lastID string
	retry  time.Duration // 0: the stream sent no valid retry field
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 4096)}
}

// readLine returns one line without its end (CR LF, LF, or a lone CR);
// bounded by maxSSELine.
func (s *sseReader) readLine() ([]byte, error) {
	var line []byte
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return nil, io.ErrUnexpectedEOF // an unterminated line is never dispatched
			}
			return nil, err
		}
		if c == '\n' && s.skipLF {
			s.skipLF = false
			continue // the LF of a CR LF
		}
		s.skipLF = c == '\r'
		if c == '\n' || c == '\r' {
			return line, nil
		}
		if len(line) >= maxSSELine {
			return nil, errSSETooLong
		}
		line = append(line, c)
	}
}

// Next returns the next event with data; it fails at the end of the
// stream or on an oversized line or event.
func (s *sseReader) Next() (sseMessage, error) {
	var event string
	var data []byte
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			return sseMessage{}, err
		}
		if len(line) == 0 {
			if hasData {
				return sseMessage{ID: s.lastID, Event: event, Data: bytes.TrimSuffix(data, []byte("\n"))}, nil
			}
			event = ""
			continue
		}
		if line[0] == ':' {
			continue // comment / keep-alive
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if len(data)+len(value)+1 > maxSSEEvent {
				return sseMessage{}, errSSETooLong
			}
			data = append(append(data, value...), '\n')
			hasData = true
		case "id":
			if !bytes.ContainsRune(value, 0) {
				s.lastID = string(value)
			}
		case "event":
			event = string(value)
		case "retry":
			if ms, ok := parseRetry(value); ok {
				s.retry = ms
			}
		}
	}
}

// parseRetry reads a retry field: ASCII digits only, milliseconds,
// capped at maxSSERetry.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms < int64(maxSSERetry/time.Millisecond) {
			ms = ms*10 + int64(c-'0')
		}
	}
	return min(time.Duration(ms)*time.Millisecond, maxSSERetry), true
}
