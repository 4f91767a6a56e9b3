package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rackha/failover"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackelect"
	"github.com/rackha/failover/rack/rackhttp"
)

// rackManager is the rack-manager role: rack.Local polling every BMC,
// served by rackhttp.Handler over mutual TLS.
type rackManager struct {
	local *rack.Local
	files *journalFiles // nil without journal_dir
	srv   *http.Server
	ln    net.Listener
	log   *slog.Logger
	page  *pageServer // nil: no page
	// elector, with rack_manager.replicas: only while it leads does
	// local poll (and power, through each server's guarded Power).
	elector *rackelect.Elector
}

func (d *daemon) newRackManager(ctx context.Context, a *adapters) (*rackManager, error) {
	lc, err := d.cfg.localConfig()
	if err != nil {
		return nil, err
	}
	for i := range d.cfg.Servers {
		s, err := a.rackServer(ctx, i)
		if err != nil {
			return nil, err
		}
		lc.Servers = append(lc.Servers, d.metrics.instrument(s))
	}
	el, err := d.newElector(a, &lc)
	if err != nil {
		return nil, err
	}
	lc.Logger = d.log
	local, err := rack.NewLocal(lc)
	if err != nil {
		return nil, fmt.Errorf("rack manager: %w", err)
	}
	d.metrics.watch(local)
	jf, err := d.newJournalFiles(a, local, lc.Interval)
	if err != nil {
		return nil, err
	}
	files, err := d.loadCerts("rack_manager.tls", d.cfg.RackManager.TLS)
	if err != nil {
		return nil, err
	}
	hc := rackhttp.DefaultHandlerConfig()
	hc.Local, hc.Topology, hc.Operators, hc.Logger = local, local.Topology(), d.cfg.RackManager.Operators, d.log
	hc.Audit = d.log.With("log", "audit")
	if f := d.cfg.RackManager.AuditFile; f != "" {
		w, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, d.cfg.errAt("rack_manager.audit_file", "cannot open", err)
		}
		a.closers = append(a.closers, w)
		hc.Audit = slog.New(slog.NewJSONHandler(w, nil))
	}
	hc.PowerTimeout = lc.PowerTimeout
	if el != nil {
		hc.Leadership = el
	}
	if d.page, err = d.newPage(local, files, a); err != nil {
		return nil, err
	}
	// Events the monitors report go to the page and the metrics.
	hc.OnEvent = d.metrics.onEvent(d.pageEvents(func(failover.Event) {}))
	h, err := rackhttp.NewHandler(hc)
	if err != nil {
		return nil, d.cfg.errAt("rack_manager", "refused", err)
	}
	ln, err := net.Listen("tcp", d.cfg.RackManager.Listen)
	if err != nil {
		return nil, d.cfg.errAt("rack_manager.listen", "cannot listen", err)
	}
	srv := rackhttp.NewServer(d.cfg.RackManager.Listen, h, rackhttp.ServerTLS(files), d.log)
	// Requests end with the process's context too.
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	return &rackManager{local: local, files: jf, srv: srv, ln: ln, log: d.log, page: d.page, elector: el}, nil
}

// Run polls and serves until ctx ends, then shuts the server down.
func (r *rackManager) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- r.srv.ServeTLS(r.ln, "", "") }()
	if r.page != nil {
		go func() {
			if err := r.page.run(ctx); err != nil {
				r.log.Error("failoverd: rack page stopped", "err", err)
			}
		}()
	}
	polled := make(chan error, 1)
	if r.elector != nil {
		go func() { polled <- r.elector.Lead(ctx, r.local.Run) }()
	} else {
		go func() { polled <- r.local.Run(ctx) }()
	}
	journaled := make(chan struct{})
	go func() {
		if r.files != nil {
			r.files.Run(ctx)
		}
		close(journaled)
	}()
	r.log.Info("failoverd: rack manager serving", "addr", r.ln.Addr().String(), "pid", os.Getpid())
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("rack manager: serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := r.srv.Shutdown(sctx); serr != nil {
		r.srv.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	stop()
	if perr := <-polled; perr != nil && err == nil {
		err = fmt.Errorf("rack manager: %w", perr)
	}
	if r.elector != nil {
		// Resigns: another replica leads at once, not a TTL later.
		if cerr := r.elector.Close(); cerr != nil {
			r.log.Warn("failoverd: resign", "err", cerr)
		}
	}
	<-journaled
	if r.files != nil {
		r.files.Finish()
	}
	return err
}

// newElector is the replica's Elector, with rack_manager.replicas (else
// nil), and guards every server's Power in lc by it: a command reaches a
// BMC only after etcd confirmed this replica leads.
func (d *daemon) newElector(a *adapters, lc *rack.LocalConfig) (*rackelect.Elector, error) {
	if !d.cfg.replicated() {
		return nil, nil
	}
	cli, spec, err := d.etcdClient(a, d.cfg.RackManager.TLS)
	if err != nil {
		return nil, err
	}
	ttl, err := d.cfg.electionTTL()
	if err != nil {
		return nil, d.cfg.errAt("rack_manager.election_ttl", err.Error(), nil)
	}
	ec := rackelect.DefaultConfig()
	ec.Client, ec.Prefix, ec.Name, ec.TTL = cli, spec.Prefix+"rack-manager/", d.cfg.advertiseURL(), ttl
	ec.TxnTimeout = spec.RequestTimeout
	// An earlier leader's command may be in flight for up to its power timeout.
	ec.InFlightHold = lc.PowerTimeout
	if ec.InFlightHold == 0 {
		ec.InFlightHold = rack.DefaultLocalConfig().PowerTimeout
	}
	ec.Logger = d.log
	el, err := rackelect.New(ec)
	if err != nil {
		return nil, d.cfg.errAt("rack_manager.replicas", "refused", err)
	}
	for i := range lc.Servers {
		if p := lc.Servers[i].Power; p != nil {
			lc.Servers[i].Power = el.Guard(lc.Servers[i].Name, p)
		}
	}
	if d.metrics != nil {
		d.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "failover_rack_manager_leader",
			Help: "1 while this rack manager replica leads (rack_manager.replicas), else 0.",
		}, func() float64 {
			if el.IsLeader() {
				return 1
			}
			return 0
		}))
	}
	return el, nil
}
