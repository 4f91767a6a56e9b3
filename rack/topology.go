package rack

import (
	"fmt"
	"slices"
)

// Topology says which servers watch which. A server's VMs are taken over
// by the server that watches it.
type Topology struct {
	watched map[string][]string // watcher -> servers it watches
	watcher map[string]string   // server -> its watcher
	servers []string
}

// Pairs makes servers watch each other two by two, as in the patent:
// servers[0] and servers[1], servers[2] and servers[3], ... An odd count
// is refused. In Pairs nobody else can stand in for a watcher that is
// gone: its partner stays unwatched until it is back (see Local.WatcherOf).
func Pairs(servers ...string) (Topology, error) {
	if len(servers) == 0 || len(servers)%2 != 0 {
		return Topology{}, fmt.Errorf("%w: Pairs needs an even, non-zero number of servers, got %d", ErrInvalidConfig, len(servers))
	}
	t := newTopology(servers)
	for i := 0; i < len(servers); i += 2 {
		t.add(servers[i], servers[i+1])
		t.add(servers[i+1], servers[i])
	}
	return t, t.check()
}

// Ring makes each server watch the next one, the last watching the first:
// servers[i] watches servers[(i+1)%n]. Two servers form a mutual pair.
// When a watcher is gone, its own watcher stands in for it (see
// Local.WatcherOf).
func Ring(servers ...string) (Topology, error) {
	if len(servers) < 2 {
		return Topology{}, fmt.Errorf("%w: Ring needs at least 2 servers, got %d", ErrInvalidConfig, len(servers))
	}
	t := newTopology(servers)
	for i, s := range servers {
		t.add(s, servers[(i+1)%len(servers)])
	}
	return t, t.check()
}

func newTopology(servers []string) Topology {
	return Topology{watched: map[string][]string{}, watcher: map[string]string{}, servers: slices.Clone(servers)}
}

func (t *Topology) add(watcher, server string) {
	t.watched[watcher] = append(t.watched[watcher], server)
	t.watcher[server] = watcher
}

func (t Topology) check() error {
	seen := map[string]bool{}
	for _, s := range t.servers {
		if s == "" {
			return fmt.Errorf("%w: empty server name", ErrInvalidConfig)
		}
		if seen[s] {
			return fmt.Errorf("%w: server %q named twice", ErrInvalidConfig, s)
		}
		seen[s] = true
	}
	return nil
}

// Servers returns every server, in the order given.
func (t Topology) Servers() []string { return slices.Clone(t.servers) }

// Watched returns the servers watcher watches.
func (t Topology) Watched(watcher string) []string { return slices.Clone(t.watched[watcher]) }

// WatcherOf returns the server that watches server, or "".
func (t Topology) WatcherOf(server string) string { return t.watcher[server] }
