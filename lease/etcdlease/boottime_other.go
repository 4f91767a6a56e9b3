//go:build !linux

package etcdlease

import "time"

var processStart = time.Now()

// hostNow returns the time since the process started on Go's monotonic
// clock (which may stop while the machine sleeps; on Linux the Keeper
// uses CLOCK_BOOTTIME, which does not).
func hostNow() (time.Duration, bool) { return time.Since(processStart), true }
