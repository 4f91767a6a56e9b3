package rack

import (
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// Status is one server's state at one poll.
type Status struct {
	Server string
	Time   time.Time
	// Reachable is false when the BMC did not answer any of the reads;
	// Err then says why. Partial answers are reachable, with per-part
	// errors below.
	Reachable bool
	Err       string

	Readings    []sensor.Reading
	ReadingsErr string

	Health    bmc.Health
	HealthErr string

	// WatchdogKnown is false when the server has no watchdog or it could
	// not be read (WatchdogErr).
	Watchdog      watchdog.State
	WatchdogKnown bool
	WatchdogErr   string

	// Fast marks a fast poll: only Health (chassis power and fault bits)
	// was read. Readings and Watchdog are absent, which says nothing
	// about them.
	Fast bool

	// RackFailed is how many servers of the rack the rack manager saw
	// failed (off, faulted, watchdog expired or unreachable) within its
	// storm window, this one included; RackSize is how many servers the
	// rack has. Zero RackSize: not known (no storm guard).
	RackFailed int
	RackSize   int
}
