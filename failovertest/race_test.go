//go:build race

package failovertest

func init() { raceEnabled = true }
