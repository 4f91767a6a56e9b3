package etcdlease

import (
	"testing"
	"time"
)

// The host's clock reads, runs forward, and at the rate of Go's
// monotonic clock (they differ only while the machine sleeps).
func TestHostClock(t *testing.T) {
	a, ok := hostNow()
	start := time.Now()
	if !ok || a <= 0 {
		t.Fatalf("hostNow() = %v, %v", a, ok)
	}
	time.Sleep(50 * time.Millisecond)
	b, ok := hostNow()
	elapsed := time.Since(start)
	if !ok || b < a {
		t.Fatalf("hostNow() went from %v to %v (%v)", a, b, ok)
	}
	if d := (b - a) - elapsed; d > 5*time.Millisecond || d < -5*time.Millisecond {
		t.Fatalf("host clock advanced %v while Go's monotonic clock advanced %v", b-a, elapsed)
	}
}
