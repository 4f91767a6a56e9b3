package redfishbmc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// SSE limits: a line or a whole event beyond these ends the stream.
const (
	maxSSELine  = 64 << 10
	maxSSEEvent = 1 << 20
)

var errSSETooLong = errors.New("event stream line or event too long")

// sseMessage is one dispatched Server-Sent Event.
type sseMessage struct {
	ID, Event string
	Data      []byte
}

// sseReader parses a text/event-stream per the WHATWG rules that matter
// here: data/id/event fields, comments, CR LF or LF line ends, dispatch on
// a blank line. retry is ignored: the adapter has its own backoff.
type sseReader struct {
	r *bufio.Reader
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 4096)}
}

// readLine returns one line without its end; bounded by maxSSELine.
func (s *sseReader) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := s.r.ReadSlice('\n')
		if len(line)+len(frag) > maxSSELine {
			return nil, errSSETooLong
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return nil, io.ErrUnexpectedEOF // an unterminated line is never dispatched
			}
			return nil, err
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
		return line, nil
	}
}

// Next returns the next event with data; it fails at the end of the
// stream or on an oversized line or event.
func (s *sseReader) Next() (sseMessage, error) {
	var m sseMessage
	var data []byte
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			return sseMessage{}, err
		}
		if len(line) == 0 {
			if hasData {
				m.Data = bytes.TrimSuffix(data, []byte("\n"))
				return m, nil
			}
			m = sseMessage{}
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
				m.ID = string(value)
			}
		case "event":
			m.Event = string(value)
		}
	}
}
