package etcdlease

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rackha/failover/watchdog"
)

// ErrCorrupt marks a stored value that cannot be decoded. The error names
// the key.
var ErrCorrupt = errors.New("failover: corrupt value in the etcd lease store")

// ErrInvalidName marks a server or watcher name that cannot be a key part.
var ErrInvalidName = errors.New("failover: invalid server name for the lease store")

// checkName refuses names that would make keys ambiguous.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case strings.Contains(name, "/"):
		return fmt.Errorf("%w: %q contains \"/\"", ErrInvalidName, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidName, name)
	}
	return nil
}

// leaseValue is the JSON of a lease/<server> key.
type leaseValue struct {
	TTLMillis int64 `json:"ttl_ms"`
}

func encodeLease(ttl time.Duration) []byte {
	b, _ := json.Marshal(leaseValue{TTLMillis: ttl.Milliseconds()})
	return b
}

// maxTTL bounds a decoded TTL: etcd's own maximum is 9,000,000,000 s;
// a year is already absurd for a lease that gates a watchdog.
const maxTTL = 365 * 24 * time.Hour

// decodeLease returns the TTL a lease/<server> value holds.
func decodeLease(key string, data []byte) (time.Duration, error) {
	var v leaseValue
	if err := decodeStrict(data, &v); err != nil {
		return 0, fmt.Errorf("%w: key %q: %v", ErrCorrupt, key, err)
	}
	if v.TTLMillis <= 0 || v.TTLMillis > maxTTL.Milliseconds() {
		return 0, fmt.Errorf("%w: key %q: ttl_ms %d out of range (1..%d)", ErrCorrupt, key, v.TTLMillis, maxTTL.Milliseconds())
	}
	return time.Duration(v.TTLMillis) * time.Millisecond, nil
}

// Declarations, the values of watchdog/<server>.
const (
	declArmed    = "armed"
	declDisarmed = "disarmed"
)

// decodeDeclaration reports whether a watchdog/<server> value declares
// the watchdog disarmed.
func decodeDeclaration(key string, data []byte) (disarmed bool, err error) {
	switch string(data) {
	case declArmed:
		return false, nil
	case declDisarmed:
		return true, nil
	}
	return false, fmt.Errorf("%w: key %q: declaration %q is neither %q nor %q", ErrCorrupt, key, truncate(data), declArmed, declDisarmed)
}

// seenValue is the JSON of a seen/<watcher>/<server> key: a
// watchdog.State, durations in milliseconds, the action by name.
type seenValue struct {
	Running         bool   `json:"running"`
	Expired         bool   `json:"expired,omitempty"`
	TimeoutMillis   int64  `json:"timeout_ms"`
	RemainingMillis int64  `json:"remaining_ms,omitempty"`
	Action          string `json:"action"`
}

// encodeSeen returns st's stored form; durations keep whole milliseconds.
func encodeSeen(st watchdog.State) []byte {
	b, _ := json.Marshal(seenValue{
		Running: st.Running, Expired: st.Expired,
		TimeoutMillis: st.Timeout.Milliseconds(), RemainingMillis: st.Remaining.Milliseconds(),
		Action: st.Action.String(),
	})
	return b
}

// decodeSeen returns the watchdog.State a journal value holds.
func decodeSeen(key string, data []byte) (watchdog.State, error) {
	var v seenValue
	if err := decodeStrict(data, &v); err != nil {
		return watchdog.State{}, fmt.Errorf("%w: key %q: %v", ErrCorrupt, key, err)
	}
	action, err := watchdog.ParseAction(v.Action)
	if err != nil {
		return watchdog.State{}, fmt.Errorf("%w: key %q: %v", ErrCorrupt, key, err)
	}
	const limit = int64(maxTTL / time.Millisecond)
	if v.TimeoutMillis < 0 || v.TimeoutMillis > limit || v.RemainingMillis < 0 || v.RemainingMillis > limit {
		return watchdog.State{}, fmt.Errorf("%w: key %q: timeout_ms %d or remaining_ms %d out of range (0..%d)", ErrCorrupt, key, v.TimeoutMillis, v.RemainingMillis, limit)
	}
	return watchdog.State{
		Running: v.Running, Expired: v.Expired,
		Timeout:   time.Duration(v.TimeoutMillis) * time.Millisecond,
		Remaining: time.Duration(v.RemainingMillis) * time.Millisecond,
		Action:    action,
	}, nil
}

// decodeStrict decodes one JSON object into v: no unknown fields, nothing
// after it.
func decodeStrict(data []byte, v any) error {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return fmt.Errorf("not a JSON object: %q", truncate(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		return fmt.Errorf("data after the JSON object: %q", truncate(rest))
	}
	return nil
}

// truncate keeps an error's quote of a value short.
func truncate(data []byte) string {
	if len(data) > 64 {
		return string(data[:64]) + "..."
	}
	return string(data)
}
