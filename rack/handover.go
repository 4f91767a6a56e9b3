package rack

import (
	"slices"
	"time"
)

// Hand-over: nobody watches a server whose watcher is gone, so the rack
// manager moves the watching; the rules are on WatcherOf.
//
// Around a move two watchers may both hold statuses of X for a moment:
// the previous one may still read what its channel buffered, and a power
// operation it started while it watched X is not cancelled. That is safe
// because VM ownership moves only by compare-and-swap in the image store.
// The move itself happens at X's next status (at most FastInterval, or
// Interval without fast polls, after the watcher came back or passed
// HandoverAfter), and MayPower follows it at once.

// startHandover turns the hand-over on at the first Watch: from then on,
// a watcher that never opened a Watch counts as gone since at. Until then
// nobody is gone, so a caller that only polls and hands statuses out
// itself (a simulation) sees the topology's watchers, and monitors that
// start one after another have HandoverAfter from the first to connect.
// Called with l.mu held.
func (l *Local) startHandover(at time.Time) {
	if l.watched {
		return
	}
	l.watched = true
	for _, s := range l.state {
		s.since = at
	}
}

// updateLiveness records at time at whether watcher is live now. Called
// with l.mu held.
func (l *Local) updateLiveness(watcher string, at time.Time) {
	s := l.state[watcher]
	if live := s.subs > 0 && !s.failed(); live != s.live {
		s.live, s.since = live, at
	}
}

func (l *Local) dead(watcher string, at time.Time) bool {
	s := l.state[watcher]
	return l.watched && !s.live && at.Sub(s.since) >= l.cfg.HandoverAfter
}

// move is a change of who watches a server, to be logged once l.mu is
// released.
type move struct {
	server, from, to string
	moved            bool
	orphan           int // +1: nobody live can watch it now; -1: somebody can again
}

// assignWatcher chooses server's watcher at time at. Called with l.mu
// held.
func (l *Local) assignWatcher(server string, at time.Time) move {
	own := l.cfg.Topology.WatcherOf(server)
	chosen, orphan := own, true
	// The chain is a path of the topology: it ends at server or loops
	// within len(l.state) steps.
	w := own
	for range len(l.state) {
		if w == "" || w == server {
			break
		}
		if !l.dead(w, at) {
			chosen, orphan = w, false
			break
		}
		w = l.cfg.Topology.WatcherOf(w)
	}
	s := l.state[server]
	m := move{server: server, from: s.watcher, to: chosen, moved: chosen != s.watcher}
	if orphan != s.orphan {
		m.orphan = 1
		if !orphan {
			m.orphan = -1
		}
	}
	s.watcher, s.orphan = chosen, orphan
	return m
}

func (l *Local) logMove(m move) {
	own := l.cfg.Topology.WatcherOf(m.server)
	switch {
	case m.orphan > 0:
		l.cfg.Logger.Warn("rack: nobody live can watch server; its statuses go to its gone watcher", "server", m.server, "watcher", own)
	case m.moved && m.to == own:
		l.cfg.Logger.Info("rack: watching handed back", "server", m.server, "from", m.from, "to", m.to)
	case m.moved:
		l.cfg.Logger.Info("rack: watching handed over", "server", m.server, "from", m.from, "to", m.to, "gone", own)
	case m.orphan < 0:
		l.cfg.Logger.Info("rack: watcher back", "server", m.server, "watcher", own)
	}
}

// WatcherOf returns the server that receives server's statuses now, ""
// for an unknown server.
//
// A watcher is live while it has a Watch open and its own latest status
// is not failed (power off, a fault bit, watchdog expired or unreachable:
// the storm guard's hard signals); it is dead once it has not been live
// for HandoverAfter. Server X's statuses go to the first server along
// the chain Topology.WatcherOf(X), its watcher, its watcher's watcher, ...
// that is not dead, stopping before X itself (a server never watches
// itself); if all are dead, to X's own watcher, and a warning is logged.
// So in a ring the dead watcher's own watcher stands in, skipping dead
// ones, and the watching returns to X's own watcher as soon as it is live
// again; in Pairs nobody can stand in. Each move is logged at Info. The
// choice is made at each status of X, at its Time. Nobody is dead before
// the first Watch on the Local; from then on a watcher that never opened
// one is gone since that first Watch.
func (l *Local) WatcherOf(server string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.state[server]; ok {
		return s.watcher
	}
	return ""
}

// Watching returns the servers whose statuses watcher receives now, in
// configuration order.
func (l *Local) Watching(watcher string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.cfg.Servers {
		if l.state[s.Name].watcher == watcher {
			out = append(out, s.Name)
		}
	}
	return slices.Clip(out)
}

// MayPower reports whether watcher may fence or restart server now: only
// its current watcher may (see WatcherOf). Local.Power does not check it,
// since in-process callers are trusted; a network rack manager checks it
// for the authenticated caller before each Power.
func (l *Local) MayPower(watcher, server string) bool {
	if watcher == "" || watcher == server {
		return false
	}
	return l.WatcherOf(server) == watcher
}
