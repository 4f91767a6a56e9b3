package demosim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/watchdog"
)

// Size limits of the wire. An image's definition and disks are the
// largest request; a health with its event log the largest answer.
const (
	// MaxRequestBytes bounds a request body.
	MaxRequestBytes = 1 << 20
	// MaxResponseBytes bounds an answer body.
	MaxResponseBytes = 4 << 20
)

// timeoutHeader carries the client's remaining deadline, in nanoseconds,
// so the server gives up when the client does.
const timeoutHeader = "Demosim-Timeout-Ns"

// response is every answer's envelope: Result on success, else Error.
type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
}

// Request bodies. Operations without arguments take an empty body or {};
// operations without a result answer {} (emptyRequest).
type (
	setPowerRequest struct {
		Action bmc.PowerAction `json:"action"`
	}
	armRequest struct {
		Timeout time.Duration   `json:"timeout_ns"`
		Action  watchdog.Action `json:"action"`
	}
	startRequest struct {
		Image imagestore.Image `json:"image"`
	}
	nameRequest struct {
		Name string `json:"name"`
	}
	emptyRequest     struct{}
	checkpointResult struct {
		Ref string `json:"ref"`
	}
)

// decodeStrict decodes exactly one JSON value into v: unknown fields,
// trailing data and a missing value are errors.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body, want a JSON value")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// decodeResponse decodes an answer's envelope and, on success, its result
// into v (nil: the result is ignored; &emptyRequest{}: it must be {}). A remote error is returned as is;
// anything malformed wraps ErrProtocol.
func decodeResponse(data []byte, v any) (remote error, err error) {
	var r response
	if err := decodeStrict(data, &r); err != nil {
		return nil, fmt.Errorf("%w: malformed answer: %v", ErrProtocol, err)
	}
	if r.Error != nil {
		return r.Error.decode(), nil
	}
	if v == nil {
		return nil, nil
	}
	if len(r.Result) == 0 {
		return nil, fmt.Errorf("%w: answer has neither result nor error", ErrProtocol)
	}
	if err := decodeStrict(r.Result, v); err != nil {
		return nil, fmt.Errorf("%w: malformed result %T: %v", ErrProtocol, v, err)
	}
	return nil, nil
}

// decodeRequest decodes a request body into v; an empty body is {}.
func decodeRequest(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := decodeStrict(body, v); err != nil {
		return fmt.Errorf("%w: malformed request: %v", ErrProtocol, err)
	}
	return nil
}
