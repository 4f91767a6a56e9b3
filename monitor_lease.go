package failover

import (
	"context"
	"time"

	"github.com/rackha/failover/watchdog"
)

// watchLeases feeds the journaled watchdogs to the engine, then returns
// the lease store's reports, re-watching with a backoff while ctx lives.
// Without Config.Leases it returns nil (a channel that never reports).
func (m *Monitor) watchLeases(ctx context.Context) <-chan Lease {
	ls := m.cfg.Leases
	if ls == nil {
		return nil
	}
	if j, ok := ls.(WatchdogJournal); ok {
		c, cancel := context.WithTimeout(ctx, m.cfg.ActionTimeout)
		seen, err := j.LoadWatchdogs(c, m.cfg.Server)
		cancel()
		if err != nil {
			m.cfg.Logger.Warn("failover: journaled watchdogs not read; no takeover by lease until each peer's watchdog is read again",
				"server", m.cfg.Server, "err", err)
		}
		for server, st := range seen {
			m.step(ctx, Input{Kind: InputWatchdogSeen, Server: server, Watchdog: st})
		}
		ch := make(chan Event, 256)
		m.journal = ch
		go m.runJournal(ctx, j, ch)
	}
	out := make(chan Lease)
	go func() {
		defer close(out)
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			ch, err := ls.Watch(ctx, m.cfg.Server)
			if err != nil {
				m.cfg.Logger.Warn("failover: watch leases", "server", m.cfg.Server, "err", err, "retry_in", backoff)
			} else {
				backoff = 100 * time.Millisecond
				if !forward(ctx, ch, out) {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
	return out
}

// journalWatchdog hands what the watcher saw of a peer's watchdog to the
// journal goroutine, which saves in order; a failure is logged (a
// restarted watcher then waits to read the watchdog again before any
// takeover by lease).
func (m *Monitor) journalWatchdog(ctx context.Context, ev Event) {
	if m.journal == nil {
		return
	}
	select {
	case m.journal <- ev:
	default:
		m.cfg.Logger.Warn("failover: watchdog journal behind; dropped", "server", m.cfg.Server, "peer", ev.Server)
	}
}

// runJournal saves journaled watchdogs in order until ctx ends.
func (m *Monitor) runJournal(ctx context.Context, j WatchdogJournal, in <-chan Event) {
	for {
		var ev Event
		select {
		case <-ctx.Done():
			return
		case ev = <-in:
		}
		st := watchdog.State{Running: ev.WatchdogAction != watchdog.ActionNone, Timeout: ev.WatchdogTimeout, Action: ev.WatchdogAction}
		c, cancel := context.WithTimeout(ctx, m.cfg.ActionTimeout)
		err := j.SaveWatchdog(c, m.cfg.Server, ev.Server, st)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.cfg.Logger.Warn("failover: journal watchdog", "server", m.cfg.Server, "peer", ev.Server, "err", err)
		}
	}
}

// forward copies leases from ch to out until ch closes (true: watch
// again) or ctx ends (false).
func forward(ctx context.Context, ch <-chan Lease, out chan<- Lease) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case l, ok := <-ch:
			if !ok {
				return true
			}
			select {
			case out <- l:
			case <-ctx.Done():
				return false
			}
		}
	}
}
