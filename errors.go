package failover

import "errors"

// Sentinel errors, checked with errors.Is.
var (
	// ErrInvalidPolicy: a Policy or Config field is out of range.
	ErrInvalidPolicy = errors.New("failover: invalid policy")
	// ErrInvalidConfig: a Monitor configuration is incomplete.
	ErrInvalidConfig = errors.New("failover: invalid configuration")
	// ErrClaimedElsewhere: a VM's image is owned by a third server.
	ErrClaimedElsewhere = errors.New("failover: VM claimed by another server")
)

// ErrLeaseHeld: a takeover by lease was refused because the server holds
// a lease again: it is alive and reached the lease store.
var ErrLeaseHeld = errors.New("failover: server holds its lease")

// ErrRunningElsewhere: the VM's last host reports it running, so it is
// not started here.
var ErrRunningElsewhere = errors.New("failover: VM reported running elsewhere")
