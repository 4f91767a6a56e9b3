package etcdlease

import (
	"syscall"
	"time"
	"unsafe"
)

// clockBoottime is Linux's CLOCK_BOOTTIME: monotonic, and counting time
// suspended too (CLOCK_MONOTONIC, which Go's time.Now reads, stops while
// the machine sleeps, while the BMC's watchdog keeps counting).
const clockBoottime = 7

// hostNow returns the time since boot on the host's suspend-aware
// monotonic clock; false if it cannot be read (then the lease is not
// alive: times of two clocks are never mixed).
func hostNow() (time.Duration, bool) {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockBoottime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
