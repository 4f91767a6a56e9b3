package rack

import "time"

// noteFailure updates st.Server's hard signals from st and stamps st with
// the storm guard's input: RackSize, and RackFailed, the servers failed
// now or seen failed within StormWindow of st.Time and not healthy since
// (a newer status counts too: with Parallel > 1 statuses of different
// servers are recorded a little out of Time order), st.Server included
// when st is failed. A server that failed and came back is no part of a
// storm: a takeover that ran its course must not hold the next. Only hard
// signals count; threshold noise in Readings never does. Called with l.mu
// held.
func (l *Local) noteFailure(st *Status) {
	s := l.state[st.Server]
	s.healthFailed = !st.Reachable || st.Health.Failed()
	if !st.Fast && st.Reachable && st.WatchdogErr == "" {
		s.wdExpired = st.WatchdogKnown && st.Watchdog.Expired
	}
	switch {
	case s.failed():
		s.lastFailed = st.Time
	case !st.Fast:
		s.lastFailed = time.Time{} // healthy again on a full read
	}
	from := st.Time.Add(-l.cfg.StormWindow)
	for _, o := range l.state {
		if !o.lastFailed.IsZero() && !o.lastFailed.Before(from) {
			st.RackFailed++
		}
	}
	st.RackSize = len(l.state)
}
