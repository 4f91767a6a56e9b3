package demosim

import (
	"context"
	"errors"
	"strings"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// Sentinel errors of this package, checked with errors.Is.
var (
	// ErrProtocol: a request or answer that does not follow the wire
	// protocol (malformed JSON, unknown operation, oversized body).
	ErrProtocol = errors.New("demosim: protocol error")
	// ErrUnknownHost: the serving process has no simulator of that name.
	ErrUnknownHost = errors.New("demosim: no simulated server of that name")
	// ErrInvalidArgument: a client was created with an empty name or an
	// unusable socket path.
	ErrInvalidArgument = errors.New("demosim: invalid argument")
)

// sentinels are the errors that keep their identity across the wire, by
// name. Names are part of the protocol: never rename one.
var sentinels = []struct {
	name string
	err  error
}{
	{"bmc.unreachable", bmc.ErrUnreachable},
	{"bmc.indeterminate", bmc.ErrIndeterminate},
	{"bmc.unsupported", bmc.ErrUnsupported},
	{"bmc.malformed", bmc.ErrMalformed},
	{"bmc.insecure", bmc.ErrInsecure},
	{"watchdog.not-armed", watchdog.ErrNotArmed},
	{"watchdog.invalid-timeout", watchdog.ErrInvalidTimeout},
	{"sensor.invalid-reading", sensor.ErrInvalidReading},
	{"hypervisor.not-found", hypervisor.ErrNotFound},
	{"hypervisor.already-running", hypervisor.ErrAlreadyRunning},
	{"hypervisor.name-taken", hypervisor.ErrNameTaken},
	{"hypervisor.unreachable", hypervisor.ErrUnreachable},
	{"hypervisor.no-capacity", hypervisor.ErrNoCapacity},
	{"hypervisor.bad-image", hypervisor.ErrBadImage},
	{"hypervisor.host-down", hypervisor.ErrHostDown},
	{"hypervisor.checkpoint-failed", hypervisor.ErrCheckpointFailed},
	{"imagestore.not-found", imagestore.ErrNotFound},
	{"imagestore.stale-generation", imagestore.ErrStaleGeneration},
	{"imagestore.invalid-image", imagestore.ErrInvalidImage},
	{"failover.outcome-unknown", failover.ErrOutcomeUnknown},
	{"context.canceled", context.Canceled},
	{"context.deadline-exceeded", context.DeadlineExceeded},
	{"demosim.protocol", ErrProtocol},
	{"demosim.unknown-host", ErrUnknownHost},
	{"demosim.invalid-argument", ErrInvalidArgument},
}

// wireError is an error as it crosses the wire.
type wireError struct {
	// Kinds name the sentinels the error wraps (see sentinels).
	Kinds   []string `json:"kinds,omitempty"`
	Message string   `json:"message"`
}

// encodeError lists every sentinel err wraps.
func encodeError(err error) *wireError {
	w := &wireError{Message: err.Error()}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			w.Kinds = append(w.Kinds, s.name)
		}
	}
	return w
}

// remoteError is an error the serving process returned: its message, and
// the sentinels it wrapped there, so that errors.Is finds them here.
type remoteError struct {
	msg  string
	errs []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.errs }

// decodeError rebuilds a remote error. A kind this side does not know
// (a newer server) is named in the message and wraps ErrProtocol.
func (w *wireError) decode() error {
	e := &remoteError{msg: w.Message}
	var unknown []string
	for _, k := range w.Kinds {
		found := false
		for _, s := range sentinels {
			if s.name == k {
				e.errs, found = append(e.errs, s.err), true
				break
			}
		}
		if !found {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		e.msg += " (unknown error kinds " + strings.Join(unknown, ", ") + ")"
		e.errs = append(e.errs, ErrProtocol)
	}
	if e.msg == "" {
		e.msg = "demosim: remote error without a message"
	}
	return e
}
