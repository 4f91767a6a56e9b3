package etcdstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/rackha/failover"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
)

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("failover: etcd store closed")

// refused reports whether err, the failure of a write sent to etcd, says
// for certain that etcd did not apply it: the server turned the request
// down (too large, no space, permission denied, bad auth, ...). Anything
// else (a deadline, a cancellation, a dropped connection, a lost leader,
// a proposal timeout, any error not from the server) leaves the write
// possibly applied.
func refused(err error) bool {
	var etcdErr rpctypes.EtcdError
	if !errors.As(err, &etcdErr) {
		return false
	}
	switch etcdErr.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.NotFound,
		codes.AlreadyExists, codes.PermissionDenied, codes.Unauthenticated,
		codes.ResourceExhausted, codes.Unimplemented:
		return true
	}
	return false
}

// writeError wraps the failure of a write of key. A write that may have
// been applied wraps failover.ErrOutcomeUnknown: the caller reads the
// image back to learn what happened (a Claim whose answer was lost has
// either moved the image to the new owner at the next generation, or
// changed nothing).
func writeError(what, key string, err error) error {
	if refused(err) {
		return fmt.Errorf("etcdstore: %s (key %q): %w", what, key, err)
	}
	return fmt.Errorf("etcdstore: %s (key %q): %w: the answer was lost, the write may have been applied (read it back): %w",
		what, key, failover.ErrOutcomeUnknown, err)
}

// readError wraps the failure of a read; a read changes nothing, so it is
// never outcome unknown.
func readError(what, key string, err error) error {
	return fmt.Errorf("etcdstore: %s (key %q): %w", what, key, err)
}

// callContext bounds one call by the Store's RequestTimeout.
func (s *Store) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}
