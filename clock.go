package failover

import "github.com/rackha/failover/clock"

// Clock tells the time; see package clock. Monitors use clock.Real unless
// given another.
type Clock = clock.Clock
