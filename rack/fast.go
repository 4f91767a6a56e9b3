package rack

import (
	"context"
	"time"
)

// FastPoll reads every server's health once (Health, or PowerState when
// the server has no HealthReader), journals each status that says
// something new, delivers each to the server's watcher and returns them
// in configuration order, marked Fast. Servers with neither role are left
// out, and so is a server being read at that moment (a fast read never
// waits: see the package doc). With Parallel 1 the servers are read
// one after another, which deterministic simulations use.
func (l *Local) FastPoll(ctx context.Context) []Status {
	out := make([]Status, len(l.cfg.Servers))
	got := make([]bool, len(l.cfg.Servers))
	l.each(func(i int, s Server) {
		if s.Health == nil && s.Power == nil {
			return
		}
		out[i], got[i] = l.collect(ctx, s, true, false)
	})
	n := 0
	for i := range out {
		if got[i] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n]
}

// runFast calls FastPoll every FastInterval until ctx ends. A round that
// overruns the interval makes the ticker drop ticks, never queue them.
func (l *Local) runFast(ctx context.Context) {
	t := time.NewTicker(l.cfg.FastInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.FastPoll(ctx)
		}
	}
}

// news reports whether fast status st says something its server's last
// journaled status last does not: reachability, a health error, power,
// a fault bit or its reason, or new events. A fast status that only
// confirms the last is delivered but not journaled, so that four fast
// polls a second do not shorten the journal's span.
func news(last, st Status) bool {
	a, b := last.Health, st.Health
	return last.Reachable != st.Reachable || last.Err != st.Err || last.HealthErr != st.HealthErr ||
		a.Power != b.Power || a.PowerFault != b.PowerFault || a.MainPowerFault != b.MainPowerFault ||
		a.Overload != b.Overload || a.Interlock != b.Interlock || a.Fault != b.Fault || a.Detail != b.Detail ||
		len(b.Events) > 0
}
