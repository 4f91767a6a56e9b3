package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/rackha/failover/rack"
)

// MaxLineBytes bounds one line; a longer one is malformed.
const MaxLineBytes = 1 << 20

// Encode is r as one line: its JSON object and a newline. Format is set
// when r has none.
func Encode(r Record) ([]byte, error) {
	if r.Format == "" {
		r.Format = Format
	}
	if r.Readings == nil {
		r.Readings = []Reading{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("telemetry: encode %s: %w", r.Server, err)
	}
	return append(b, '\n'), nil
}

// DecodeLine parses one line (without its newline): a Record of this
// Format whose Status converts. Unknown fields are ignored, so later
// minor additions still read.
func DecodeLine(line []byte) (Record, error) {
	r, _, err := decode(line)
	return r, err
}

// decode is DecodeLine, with the record's status.
func decode(line []byte) (Record, rack.Status, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, rack.Status{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if r.Format != Format {
		return r, rack.Status{}, fmt.Errorf("%w: format %q: want %q", ErrMalformed, r.Format, Format)
	}
	if r.Server == "" {
		r.Server = r.Target
	}
	st, err := r.Status()
	return r, st, err
}

// LineError is a malformed line: its file and line number.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Decoder reads Records line by line. Blank lines are skipped.
type Decoder struct {
	file string
	sc   *bufio.Scanner
	line int
}

// NewDecoder reads from r; file names it in errors.
func NewDecoder(r io.Reader, file string) *Decoder {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), MaxLineBytes)
	return &Decoder{file: file, sc: sc}
}

// Next returns the next Record, io.EOF after the last, or a *LineError.
func (d *Decoder) Next() (Record, error) {
	r, _, err := d.next()
	return r, err
}

// NextStatus is Next as the status the record stands for (Record.Status).
func (d *Decoder) NextStatus() (rack.Status, error) {
	_, st, err := d.next()
	return st, err
}

func (d *Decoder) next() (Record, rack.Status, error) {
	for d.sc.Scan() {
		d.line++
		line := bytes.TrimSpace(d.sc.Bytes())
		if len(line) == 0 {
			continue
		}
		r, st, err := decode(line)
		if err != nil {
			return r, st, &LineError{File: d.file, Line: d.line, Err: err}
		}
		return r, st, nil
	}
	if err := d.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, MaxLineBytes)
		}
		return Record{}, rack.Status{}, &LineError{File: d.file, Line: d.line + 1, Err: err}
	}
	return Record{}, rack.Status{}, io.EOF
}
