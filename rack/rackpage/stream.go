package rackpage

import (
	"encoding/json"
	"net/http"
	"time"
)

// stream serves GET stream: a text/event-stream of "state" events, each
// one State, at once, after each Record (at most every 100 ms) and every
// Interval, until the client goes.
func (p *Page) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	var buf []byte
	for {
		wake := p.woken()
		b, err := json.Marshal(p.snapshot(r.Context()))
		if err != nil {
			p.cfg.Logger.Error("rackpage: encoding the state", "err", err)
			return
		}
		buf = append(buf[:0], "retry: 1000\nevent: state\ndata: "...)
		buf = append(buf, b...)
		buf = append(buf, "\n\n"...)
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		case <-wake:
			// Let a burst of events land together.
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}
