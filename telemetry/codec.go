package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if r.Format != Format {
		return r, fmt.Errorf("%w: format %q: want %q", ErrMalformed, r.Format, Format)
	}
	if r.Server == "" {
		r.Server = r.Target
	}
	if _, err := r.Status(); err != nil {
		return r, err
	}
	return r, nil
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
	for d.sc.Scan() {
		d.line++
		line := bytes.TrimSpace(d.sc.Bytes())
		if len(line) == 0 {
			continue
		}
		r, err := DecodeLine(line)
		if err != nil {
			return r, &LineError{File: d.file, Line: d.line, Err: err}
		}
		return r, nil
	}
	if err := d.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, MaxLineBytes)
		}
		return Record{}, &LineError{File: d.file, Line: d.line + 1, Err: err}
	}
	return Record{}, io.EOF
}
