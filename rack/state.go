package rack

import "time"

// serverState is what Local remembers of one server between statuses.
// Guarded by Local.mu.
type serverState struct {
	// Hard signals from its latest statuses: the health part (power off,
	// a fault bit, unreachable) from the latest status of either kind,
	// the watchdog part from the latest status that read the watchdog.
	healthFailed bool
	wdExpired    bool
	lastFailed   time.Time // Time of its latest failed status; zero: none

	// As a watcher (see handover.go).
	subs    int       // open Watch subscriptions
	live    bool      // subs > 0 and not failed
	since   time.Time // when live last changed
	watcher string    // who receives its statuses now
	orphan  bool      // its watcher and all who could stand in are dead
}

func (s *serverState) failed() bool { return s.healthFailed || s.wdExpired }
