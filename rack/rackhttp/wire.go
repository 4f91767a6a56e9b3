package rackhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
)

// powerRequest is the body of POST /v1/power.
type powerRequest struct {
	Server string `json:"server"`
	Action string `json:"action"`
}

// powerAnswer is the body of a 200 answer to POST /v1/power.
type powerAnswer struct {
	Outcome string `json:"outcome"`
}

// errorBody is the body of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
	// Leader is the leading replica's URL in a not_leader answer, when
	// the follower knows it.
	Leader string `json:"leader,omitempty"`
}

var actions = map[string]bmc.PowerAction{
	"off":   bmc.PowerActionOff,
	"on":    bmc.PowerActionOn,
	"cycle": bmc.PowerActionCycle,
}

func actionName(a bmc.PowerAction) (string, bool) {
	for name, v := range actions {
		if v == a {
			return name, true
		}
	}
	return "", false
}

// decodePowerRequest reads one power request: a single JSON object with
// a non-empty server and a known action, nothing after it. Its errors
// name what was wrong; a body over the reader's limit comes back as the
// reader's *http.MaxBytesError.
func decodePowerRequest(r io.Reader) (server string, action bmc.PowerAction, err error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var req powerRequest
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return "", 0, errors.New("empty body: want {\"server\":...,\"action\":...}")
		}
		return "", 0, fmt.Errorf("power request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return "", 0, errors.New("power request: data after the JSON object")
		}
		return "", 0, fmt.Errorf("power request: after the JSON object: %w", err)
	}
	if req.Server == "" {
		return "", 0, errors.New("power request: server is empty")
	}
	a, ok := actions[req.Action]
	if !ok {
		return "", 0, fmt.Errorf("power request: action %q is not one of off, on, cycle", req.Action)
	}
	return req.Server, a, nil
}

// encodeStatus is one status as JSON on one line (see sanitize).
func encodeStatus(st rack.Status) ([]byte, error) {
	return json.Marshal(sanitize(st))
}

// sanitize returns st fit for JSON. A non-finite number (which
// rack.Local leaves only in a reading it marked unavailable) cannot be
// JSON: such a value is sent as 0 and such a threshold as unset.
func sanitize(st rack.Status) rack.Status {
	clean := true
	for _, r := range st.Readings {
		t := r.Thresholds
		for _, v := range []float64{r.Value, t.LowerFatal.Value, t.LowerCritical.Value, t.LowerCaution.Value,
			t.UpperCaution.Value, t.UpperCritical.Value, t.UpperFatal.Value} {
			clean = clean && finite(v)
		}
	}
	if clean {
		return st
	}
	st.Readings = append(st.Readings[:0:0], st.Readings...)
	for i := range st.Readings {
		r := &st.Readings[i]
		if !finite(r.Value) {
			r.Value = 0
		}
		t := &r.Thresholds
		for _, l := range []*sensor.Limit{&t.LowerFatal, &t.LowerCritical, &t.LowerCaution,
			&t.UpperCaution, &t.UpperCritical, &t.UpperFatal} {
			if !finite(l.Value) {
				*l = sensor.Limit{}
			}
		}
	}
	return st
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// decodeStatus reads one status event's data: a JSON rack.Status naming
// its server and time.
func decodeStatus(data []byte) (rack.Status, error) {
	var st rack.Status
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&st); err != nil {
		return rack.Status{}, fmt.Errorf("%w: status: %w", ErrProtocol, err)
	}
	if dec.More() {
		return rack.Status{}, fmt.Errorf("%w: status: data after the JSON object", ErrProtocol)
	}
	if st.Server == "" {
		return rack.Status{}, fmt.Errorf("%w: status without a server", ErrProtocol)
	}
	if st.Time.IsZero() {
		return rack.Status{}, fmt.Errorf("%w: status of %q without a time", ErrProtocol, st.Server)
	}
	return st, nil
}
