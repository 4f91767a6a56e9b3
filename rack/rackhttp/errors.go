package rackhttp

import "errors"

// Sentinel errors, checked with errors.Is. A Client wraps the rack
// manager's refusals in them; the rack manager's error text follows.
var (
	// ErrUnauthenticated: no verified client certificate, or one without
	// a name (HTTP 401).
	ErrUnauthenticated = errors.New("rackhttp: no verified client certificate")
	// ErrForbidden: the certificate's name may not do this (HTTP 403).
	ErrForbidden = errors.New("rackhttp: forbidden")
	// ErrRateLimited: the identity sent too many requests (HTTP 429).
	ErrRateLimited = errors.New("rackhttp: rate limited")
	// ErrBadRequest: the request was malformed or too large (HTTP 400,
	// 413); the rack manager did nothing.
	ErrBadRequest = errors.New("rackhttp: bad request")
	// ErrEventTooLarge: an SSE event was bigger than MaxEventBytes.
	ErrEventTooLarge = errors.New("rackhttp: event too large")
	// ErrProtocol: the rack manager's answer could not be understood.
	ErrProtocol = errors.New("rackhttp: protocol error")
)

// Error kinds on the wire ("kind" of an error body).
const (
	kindUnauthenticated = "unauthenticated"
	kindForbidden       = "forbidden"
	kindRateLimited     = "rate_limited"
	kindTooLarge        = "too_large"
	kindMalformed       = "malformed"
	kindNotFound        = "not_found"
	kindMethod          = "method_not_allowed"
	kindUnknownServer   = "unknown_server"
	kindIndeterminate   = "indeterminate"
	kindUnreachable     = "unreachable"
	kindUnsupported     = "unsupported"
	kindFailed          = "failed"
	kindNotLeader       = "not_leader"
)
