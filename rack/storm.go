package rack

// noteFailure updates st.Server's hard signals from st and stamps st with
// the storm guard's input: RackSize, and RackFailed, the servers whose
// latest failed status is at most StormWindow older than st.Time (a newer
// one counts too: with Parallel > 1 statuses of different servers are
// recorded a little out of Time order), st.Server included when st is
// failed. Only hard
// signals count; threshold noise in Readings never does. Called with l.mu
// held.
func (l *Local) noteFailure(st *Status) {
	s := l.state[st.Server]
	s.healthFailed = !st.Reachable || st.Health.Failed()
	if !st.Fast && st.Reachable && st.WatchdogErr == "" {
		s.wdExpired = st.WatchdogKnown && st.Watchdog.Expired
	}
	if s.failed() {
		s.lastFailed = st.Time
	}
	from := st.Time.Add(-l.cfg.StormWindow)
	for _, o := range l.state {
		if !o.lastFailed.IsZero() && !o.lastFailed.Before(from) {
			st.RackFailed++
		}
	}
	st.RackSize = len(l.state)
}
