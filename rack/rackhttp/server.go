package rackhttp

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// NewServer returns an http.Server for h with every timeout set, serving
// HTTP/1.1 only: start it with ServeTLS(listener, "", "") or
// ListenAndServeTLS("", "") and a tlsConfig from ServerTLS. Streams and
// power requests extend their own deadlines past ReadTimeout and
// WriteTimeout. Its own errors (failed handshakes: a client without a
// certificate, or from another CA) go to logger at Warn. When h is a
// *Handler, Shutdown ends its status streams (see CloseStreams).
func NewServer(addr string, h http.Handler, tlsConfig *tls.Config, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.Default()
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 5 * time.Second,  // a client slow to send headers holds a connection no longer
		ReadTimeout:       15 * time.Second, // a request body is at most a few KiB
		WriteTimeout:      15 * time.Second, // answers but streams and power are small
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// A non-nil empty map turns HTTP/2 off: one connection per stream.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	if rh, ok := h.(*Handler); ok {
		srv.RegisterOnShutdown(rh.CloseStreams)
	}
	return srv
}
