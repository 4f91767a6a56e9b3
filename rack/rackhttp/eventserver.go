package rackhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/rackha/failover"
)

// maxEventBytes bounds a reported event: an alert names its VMs and says
// why in words.
const maxEventBytes = 64 << 10

// reportEvent serves POST /v1/events: one failover.Event (its JSON) from
// the monitor that decided it. The caller must be the event's watcher
// (Peer) or, for an event about itself (a reconcile), its Server. The
// rack manager gives it to HandlerConfig.OnEvent (the operator's page
// and metrics) and answers 204; without OnEvent it is dropped, 204 too.
func (h *Handler) reportEvent(w http.ResponseWriter, r *http.Request, peer string) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBytes))
	if err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			h.refuse(w, r, peer, http.StatusRequestEntityTooLarge, kindTooLarge, fmt.Sprintf("event body over %d bytes", mb.Limit))
			return
		}
		h.refuse(w, r, peer, http.StatusBadRequest, kindMalformed, "reading the event: "+err.Error())
		return
	}
	var ev failover.Event
	if err := json.Unmarshal(data, &ev); err != nil || ev.Type == "" || ev.Time.IsZero() {
		h.refuse(w, r, peer, http.StatusBadRequest, kindMalformed, fmt.Sprintf("not an event (want JSON with time and type): %.200q", data))
		return
	}
	if ev.Peer != peer && !(ev.Peer == "" && ev.Server == peer) {
		h.refuse(w, r, peer, http.StatusForbidden, kindForbidden,
			fmt.Sprintf("%q reports an event of watcher %q about %q: only its own", peer, ev.Peer, ev.Server))
		return
	}
	if h.cfg.OnEvent != nil {
		h.cfg.OnEvent(ev)
	}
	w.WriteHeader(http.StatusNoContent)
}

// Report sends one of this monitor's events to the rack manager (POST
// /v1/events), for the operator's page and metrics; an error says why it
// was not taken. Safe for concurrent use.
func (c *Client) Report(ctx context.Context, ev failover.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("rackhttp: report %s event: %w", ev.Type, err)
	}
	return c.onLeader(ctx, func(base string) (attempt, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/events", bytes.NewReader(body))
		if err != nil {
			return attempt{}, fmt.Errorf("rackhttp: report %s event: %w", ev.Type, err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err != nil {
			return attempt{retry: true}, fmt.Errorf("rackhttp: report %s event: %w", ev.Type, err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode == http.StatusNoContent {
			return attempt{}, nil
		}
		err = fmt.Errorf("rackhttp: report %s event: %w", ev.Type, answerError(resp.StatusCode, data, false))
		if leader, ok := notLeaderHint(resp.StatusCode, data); ok {
			return attempt{retry: true, hint: leader}, err
		}
		return attempt{}, err
	})
}
