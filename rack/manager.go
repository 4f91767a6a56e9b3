package rack

import (
	"context"
	"errors"

	"github.com/rackha/failover/bmc"
)

// Sentinel errors.
var (
	ErrUnknownServer = errors.New("failover: unknown server")
	ErrInvalidConfig = errors.New("failover: invalid rack configuration")
	// ErrNotLeader: this rack manager replica does not lead (rack/rackelect),
	// so it did nothing; the leader may.
	ErrNotLeader = errors.New("failover: not the leading rack manager")
)

// Manager is what a monitor needs from the rack manager. Implementations
// are safe for concurrent use.
//
// Watch delivers the status of every server that watcher watches, each
// time it is collected, until ctx ends; then the channel is closed. A slow
// reader loses older statuses, never the newest one. Statuses of one
// server arrive in the order they were read. Which servers a watcher
// watches may change while the channel is open: the rack manager hands
// the servers of a watcher that is gone to another (Local.WatcherOf), so
// a reader must accept the status of any server.
//
// Power is authorized by the topology: a network rack manager refuses a
// watcher's power action on a server it does not watch now
// (Local.MayPower); the in-process Local trusts its caller.
//
// Power carries out a power action on server and confirms it by reading
// the state back (see bmc.Power): the fence is Power(ctx, s,
// bmc.PowerActionOff), the restart Power(ctx, s, bmc.PowerActionCycle).
type Manager interface {
	Watch(ctx context.Context, watcher string) (<-chan Status, error)
	Power(ctx context.Context, server string, action bmc.PowerAction) error
}
