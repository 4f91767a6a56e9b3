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

// ErrRunningElsewhere: the VM's last host reports it running, so it is
// not started here.
var ErrRunningElsewhere = errors.New("failover: VM reported running elsewhere")
