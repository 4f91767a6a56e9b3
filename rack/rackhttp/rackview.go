package rackhttp

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rackha/failover/rack"
)

// RackView is the answer to GET /v1/rack: what the rack manager knows of
// each server, for operators (`failoverd status`). Monitors' phases are
// not known here.
type RackView struct {
	Time    time.Time    `json:"time"`
	Servers []ServerView `json:"servers"`
}

// ServerView is one server in a RackView.
type ServerView struct {
	Name string `json:"name"`
	// Watcher receives its statuses now (rack.Local.WatcherOf);
	// TopologyWatcher is its watcher in the topology. They differ while
	// the watching is handed over.
	Watcher         string `json:"watcher"`
	TopologyWatcher string `json:"topology_watcher"`
	// Latest is its newest journaled status (readings carry their
	// thresholds); nil before the first poll.
	Latest *rack.Status `json:"latest,omitempty"`
	// Journal is its last statuses, oldest first, Latest included.
	Journal []rack.Status `json:"journal"`
}

// MaxJournal is the most journal statuses per server GET /v1/rack gives.
const MaxJournal = 60

// rackView serves GET /v1/rack?n=N (default 10, at most MaxJournal).
func (h *Handler) rackView(w http.ResponseWriter, r *http.Request, peer string) {
	n := 10
	if q := r.URL.Query().Get("n"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 0 || v > MaxJournal {
			h.refuse(w, r, peer, http.StatusBadRequest, kindMalformed, fmt.Sprintf("n %q: want a count from 0 to %d", q, MaxJournal))
			return
		}
		n = v
	}
	view := RackView{Time: time.Now()}
	for _, s := range h.cfg.Topology.Servers() {
		j := h.cfg.Local.Journal(s)
		entries := j.Entries()
		entries = entries[max(0, len(entries)-n):]
		for i := range entries {
			entries[i] = sanitize(entries[i])
		}
		sv := ServerView{Name: s, Watcher: h.cfg.Local.WatcherOf(s), TopologyWatcher: h.cfg.Topology.WatcherOf(s),
			Journal: entries}
		if last, ok := j.Last(); ok {
			last = sanitize(last)
			sv.Latest = &last
		}
		view.Servers = append(view.Servers, sv)
	}
	writeJSON(w, http.StatusOK, view)
}
