package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackhttp"
	"github.com/rackha/failover/rack/rackpage"
)

// PageConfig is the rack manager's live page for operators (rackpage).
type PageConfig struct {
	// Listen is where the page is served over TLS with the rack
	// manager's certificate (host:port), with the rack manager's
	// /metrics under the same access; empty: no page.
	Listen string `yaml:"listen"`
	// TokenFile holds the operator token (at least 16 bytes) that lets a
	// browser in without a client certificate; empty: client
	// certificates of servers and rack_manager.operators only.
	TokenFile string `yaml:"token_file"`
}

// pageServer serves the page on its own listener.
type pageServer struct {
	page *rackpage.Page
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
}

// newPage builds the page of local when rack_manager.page.listen is
// set (nil otherwise). The monitors' events reach it: in the "all" role
// directly, else as each monitor reports them (POST /v1/events).
func (d *daemon) newPage(local *rack.Local, files *rackhttp.Files, a *adapters) (*pageServer, error) {
	pc := d.cfg.RackManager.Page
	if pc.Listen == "" {
		return nil, nil
	}
	cfg := rackpage.DefaultConfig()
	cfg.Local, cfg.Operators, cfg.Logger, cfg.MonitorEvents = local, d.cfg.RackManager.Operators, d.log, true
	if pc.TokenFile != "" {
		tok, err := rackpage.ReadToken(pc.TokenFile)
		if err != nil {
			return nil, d.cfg.errAt("rack_manager.page.token_file", "cannot use", err)
		}
		cfg.Token = tok
	}
	store, err := d.imageStore(a, d.cfg.RackManager.TLS)
	if err != nil {
		return nil, err
	}
	cfg.Images = store
	p, err := rackpage.New(cfg)
	if err != nil {
		return nil, d.cfg.errAt("rack_manager.page", "refused", err)
	}
	ln, err := net.Listen("tcp", pc.Listen)
	if err != nil {
		return nil, d.cfg.errAt("rack_manager.page.listen", "cannot listen", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", p)
	mux.Handle("/metrics", p.Guard(d.metrics.handler(d.log)))
	srv := &http.Server{Handler: mux, TLSConfig: pageTLS(files), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	return &pageServer{page: p, srv: srv, ln: ln, log: d.log}, nil
}

// pageTLS is the rack manager's TLS with the client certificate
// optional: a browser without one shows the operator token instead.
func pageTLS(files *rackhttp.Files) *tls.Config {
	base := rackhttp.ServerTLS(files)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.VerifyClientCertIfGiven,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := base.GetConfigForClient(h)
			if err != nil {
				return nil, err
			}
			c = c.Clone()
			c.ClientAuth, c.NextProtos = tls.VerifyClientCertIfGiven, nil
			return c, nil
		},
	}
}

// run serves until ctx ends.
func (s *pageServer) run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.ServeTLS(s.ln, "", "") }()
	s.log.Info("failoverd: rack page serving", "addr", s.ln.Addr().String())
	select {
	case <-ctx.Done():
		// The page's streams end with their requests' contexts: Close.
		s.srv.Close()
		return nil
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// pageEvents returns an OnEvent giving each event to the page (when
// there is one), then to next.
func (d *daemon) pageEvents(next func(failover.Event)) func(failover.Event) {
	if d.page == nil {
		return next
	}
	p := d.page.page
	return func(ev failover.Event) {
		p.Record(ev)
		next(ev)
	}
}
