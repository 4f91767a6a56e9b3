package rackhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
)

// power serves POST /v1/power for a server peer watches now. Every
// request that names a server and an action is audited, refused ones
// too; malformed ones are logged as refused requests.
func (h *Handler) power(w http.ResponseWriter, r *http.Request, peer string) {
	start := started(r)
	body := http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	server, action, err := decodePowerRequest(body)
	if err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			h.refuse(w, r, peer, http.StatusRequestEntityTooLarge, kindTooLarge,
				fmt.Sprintf("power request body over %d bytes", mb.Limit))
			return
		}
		h.refuse(w, r, peer, http.StatusBadRequest, kindMalformed, err.Error())
		return
	}
	audit := func(outcome string, err error) {
		attrs := []slog.Attr{slog.String("who", peer), slog.String("remote", r.RemoteAddr),
			slog.String("server", server), slog.String("action", action.String()),
			slog.String("outcome", outcome), slog.Duration("duration", time.Since(start))}
		level := slog.LevelInfo
		if err != nil {
			attrs, level = append(attrs, slog.String("err", err.Error())), slog.LevelWarn
		}
		h.cfg.Audit.LogAttrs(context.Background(), level, "rackhttp: power", attrs...)
	}
	if !h.cfg.Local.MayPower(peer, server) {
		err := fmt.Errorf("%q may not power %q: its watcher now is %q", peer, server, h.cfg.Local.WatcherOf(server))
		if !h.servers[server] {
			err = fmt.Errorf("%q may not power %q: no such server in the topology", peer, server)
		}
		audit("refused", err)
		writeError(w, http.StatusForbidden, kindForbidden, err.Error())
		return
	}
	// Once started, an operation runs to its end even if the caller goes
	// away: its outcome is still audited, and a fence half done helps
	// nobody.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.PowerTimeout + 10*time.Second))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.PowerTimeout)
	defer cancel()
	err = h.cfg.Local.Power(ctx, server, action)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	code, kind := powerError(err)
	if kind == kindNotLeader {
		audit("refused", err)
		leader, _ := h.leader()
		w.Header().Set("Retry-After", "1")
		writeJSON(w, code, errorBody{Error: err.Error(), Kind: kind, Leader: leader})
		return
	}
	if err == nil {
		audit("confirmed", nil)
		writeJSON(w, http.StatusOK, powerAnswer{Outcome: "confirmed"})
		return
	}
	audit(kind, err)
	writeError(w, code, kind, err.Error())
}

// powerError maps a power error to its status code and kind.
func powerError(err error) (int, string) {
	switch {
	case err == nil:
		return http.StatusOK, ""
	case errors.Is(err, rack.ErrNotLeader) && !errors.Is(err, bmc.ErrIndeterminate):
		return http.StatusServiceUnavailable, kindNotLeader
	case errors.Is(err, bmc.ErrIndeterminate), errors.Is(err, context.DeadlineExceeded):
		return http.StatusBadGateway, kindIndeterminate
	case errors.Is(err, bmc.ErrUnsupported):
		return http.StatusNotImplemented, kindUnsupported
	case errors.Is(err, rack.ErrUnknownServer):
		return http.StatusNotFound, kindUnknownServer
	case errors.Is(err, bmc.ErrUnreachable):
		return http.StatusBadGateway, kindUnreachable
	default:
		return http.StatusBadGateway, kindFailed
	}
}

// leader is the leader's URL, when a Leadership knows it.
func (h *Handler) leader() (string, bool) {
	if h.cfg.Leadership == nil {
		return "", false
	}
	return h.cfg.Leadership.Leader()
}
