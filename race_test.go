//go:build race

package failover

func init() { raceEnabled = true }
