package failover

import "time"

// Clock tells the time. Monitors use the real clock unless a simulation
// gives them a manual one (failovertest.Clock).
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
