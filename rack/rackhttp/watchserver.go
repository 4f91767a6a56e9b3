package rackhttp

import (
	"fmt"
	"net/http"
	"time"

	"github.com/rackha/failover/rack"
)

// watch serves GET /v1/watch: the SSE stream of the statuses rack.Local
// delivers to peer.
func (h *Handler) watch(w http.ResponseWriter, r *http.Request, peer string) {
	if asked := r.URL.Query().Get("watcher"); asked != "" && asked != peer {
		h.refuse(w, r, peer, http.StatusForbidden, kindForbidden,
			fmt.Sprintf("certificate of %q may not watch as %q", peer, asked))
		return
	}
	rc := http.NewResponseController(w)
	// A stream outlives any server-wide read or write timeout; writes get
	// their own deadline below.
	_ = rc.SetReadDeadline(time.Time{})
	ctx := r.Context()
	ch, err := h.cfg.Local.Watch(ctx, peer)
	if err != nil {
		writeError(w, http.StatusForbidden, kindUnknownServer, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// Subscribed first, then the latest statuses: nothing recorded in
	// between is lost. A status both in the journal and in the channel is
	// sent once, and none older than one already sent.
	sent := map[string]rack.Status{}
	var buf []byte
	for _, s := range h.cfg.Local.Watching(peer) {
		if st, ok := h.cfg.Local.Journal(s).Last(); ok {
			buf = h.appendStatus(buf, st)
			sent[s] = st
		}
	}
	add := func(st rack.Status) {
		if last, ok := sent[st.Server]; ok {
			if st.Time.Before(last.Time) || st.Time.Equal(last.Time) && sameStatus(st, last) {
				return
			}
			delete(sent, st.Server)
		}
		buf = h.appendStatus(buf, st)
	}
	write := func() bool {
		if len(buf) == 0 {
			buf = append(buf, heartbeat...)
		}
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.IdleTimeout))
		_, err := w.Write(buf)
		if err == nil {
			err = rc.Flush()
		}
		buf = buf[:0]
		if err != nil {
			h.cfg.Logger.Info("rackhttp: stream closed", "watcher", peer, "remote", r.RemoteAddr, "err", err)
			return false
		}
		return true
	}
	if !write() {
		return
	}
	hb := time.NewTicker(h.cfg.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.closing:
			return
		case <-hb.C:
		case st, ok := <-ch:
			if !ok {
				return
			}
			add(st)
			for len(ch) > 0 && len(buf) < 64<<10 { // what else waits goes in the same write
				add(<-ch)
			}
			hb.Reset(h.cfg.Heartbeat)
		}
		if !h.leads() {
			h.cfg.Logger.Info("rackhttp: stream closed: this replica no longer leads", "watcher", peer, "remote", r.RemoteAddr)
			return
		}
		if !write() {
			return
		}
	}
}

func (h *Handler) appendStatus(buf []byte, st rack.Status) []byte {
	data, err := encodeStatus(st)
	if err != nil {
		h.cfg.Logger.Error("rackhttp: status not sent", "server", st.Server, "err", err)
		return buf
	}
	return appendEvent(buf, "status", data)
}

// sameStatus reports whether a and b are the same status (as JSON: the
// journal and the channel hold copies).
func sameStatus(a, b rack.Status) bool {
	x, err1 := encodeStatus(a)
	y, err2 := encodeStatus(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
