package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/rackha/failover/rack/rackhttp"
)

// runRole runs rack-manager, monitor or all until SIGTERM or SIGINT.
func runRole(role string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(role, stderr)
	path := fs.String("config", "", "the rack's YAML config file (required)")
	server, advertise := "", ""
	if role == "monitor" {
		fs.StringVar(&server, "server", "", "this server's name (default: the config's self)")
	}
	if role == "rack-manager" {
		fs.StringVar(&advertise, "advertise", "", "this replica's URL, one of rack_manager.replicas (default: rack_manager.advertise_url, else url)")
	}
	check := fs.Bool("check", false, "check the config, the secrets and certificates this role reads, and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError("%s needs -config FILE", role)
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	if advertise != "" {
		if err := cfg.setAdvertise(advertise); err != nil {
			return err
		}
	}
	if role == "monitor" {
		if server == "" {
			server = cfg.Self
		}
		if server == "" {
			return usageError("monitor needs -server NAME (or self: in %s)", cfg.File)
		}
		if cfg.server(server) == nil {
			return usageError("-server %q is not one of the servers in %s", server, cfg.File)
		}
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	if *check {
		if err := checkRole(cfg, role, server); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok for %s %s\n", cfg.File, role, server)
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d := &daemon{cfg: cfg, log: log, events: newEventWriter(stdout, cfg.Log.Events)}
	go d.reloadOn(ctx, hup)
	err = d.run(ctx, role, server)
	if err == nil {
		log.Info("failoverd: stopped", "role", role)
	}
	return err
}

// daemon is one failoverd process: its roles and their certificates.
type daemon struct {
	cfg    *Config
	log    *slog.Logger
	events *eventWriter
	// metrics of this process (metrics.go); nil records nothing.
	metrics *metrics
	// page is the rack manager's live page (page.go), or nil.
	page *pageServer

	mu    sync.Mutex
	certs []*rackhttp.Files
	// etcd is the process's etcd client (etcd.go), once dialled.
	etcd     *clientv3.Client
	etcdSpec etcdSpec
}

// run starts the roles and waits for them; the first error stops all.
func (d *daemon) run(ctx context.Context, role, server string) error {
	a := &adapters{cfg: d.cfg, log: d.log}
	defer a.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var runs []func(context.Context) error
	d.metrics = newMetrics()
	if addr := d.cfg.MetricsAddr; addr != "" {
		serve, err := d.metrics.listen(addr, d.log)
		if err != nil {
			return d.cfg.errAt("metrics_addr", "cannot listen", err)
		}
		runs = append(runs, serve)
	}
	switch role {
	case "rack-manager":
		rm, err := d.newRackManager(ctx, a)
		if err != nil {
			return err
		}
		runs = append(runs, rm.Run)
	case "monitor":
		mgr, err := d.newRackClient(server)
		if err != nil {
			return err
		}
		m, err := d.newMonitor(ctx, a, d.cfg.serverIndex(server), mgr, false)
		if err != nil {
			return err
		}
		runs = append(runs, m.Run)
	case "all":
		if d.cfg.replicated() {
			return d.cfg.errAt("rack_manager.replicas", "role all runs one rack manager in the monitors' process: run rack-manager replicas and monitors apart", nil)
		}
		if d.cfg.Lease.Enabled {
			return d.cfg.errAt("lease.enabled", "the all role runs every monitor on the rack's controller, but a lease must be held on the server it gates: run a monitor on each server", nil)
		}
		rm, err := d.newRackManager(ctx, a)
		if err != nil {
			return err
		}
		runs = append(runs, rm.Run)
		for i := range d.cfg.Servers {
			m, err := d.newMonitor(ctx, a, i, rm.local, true)
			if err != nil {
				return err
			}
			runs = append(runs, m.Run)
		}
	}
	errs := make(chan error, len(runs))
	for _, r := range runs {
		go func() { errs <- r(ctx) }()
	}
	var first error
	for range runs {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// loadCerts loads one process's certificate pair with the rack's CA and
// keeps it for SIGHUP.
func (d *daemon) loadCerts(path string, pair CertPair) (*rackhttp.Files, error) {
	f, err := rackhttp.LoadFiles(pair.Cert, pair.Key, d.cfg.TLS.CA)
	if err != nil {
		return nil, d.cfg.errAt(path, "cannot load the certificate, key or CA (tls.ca)", err)
	}
	d.mu.Lock()
	d.certs = append(d.certs, f)
	d.mu.Unlock()
	return f, nil
}

// reloadOn reloads every certificate at each SIGHUP; a pair that fails
// to load keeps the old one.
func (d *daemon) reloadOn(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		d.mu.Lock()
		certs := append([]*rackhttp.Files(nil), d.certs...)
		d.mu.Unlock()
		var errs []error
		for _, f := range certs {
			errs = append(errs, f.Reload())
		}
		if err := errors.Join(errs...); err != nil {
			d.log.Error("failoverd: SIGHUP: certificate reload failed; the old certificates stay", "err", err)
			continue
		}
		d.log.Info("failoverd: SIGHUP: certificates reloaded", "count", len(certs))
	}
}

// newRackClient is the monitor's rack.Manager: the rack manager over
// mutual TLS, as server.
func (d *daemon) newRackClient(server string) (*rackhttp.Client, error) {
	i := d.cfg.serverIndex(server)
	files, err := d.loadCerts(fmt.Sprintf("servers[%d].tls", i), d.cfg.Servers[i].TLS)
	if err != nil {
		return nil, err
	}
	return d.rackClient(files)
}

// rackClient reaches the rack manager presenting files' certificate.
func (d *daemon) rackClient(files *rackhttp.Files) (*rackhttp.Client, error) {
	cc := rackhttp.DefaultClientConfig()
	cc.URL, cc.URLs = d.cfg.rackManagerURLs()
	cc.TLS = rackhttp.ClientTLS(files, d.cfg.rackManagerName())
	cc.Logger = d.log
	c, err := rackhttp.NewClient(cc)
	if err != nil {
		return nil, d.cfg.errAt("rack_manager.url", "refused", err)
	}
	return c, nil
}

// checkRole reads every secret and certificate role needs, as it would
// at start, without connecting anywhere.
func checkRole(cfg *Config, role, server string) error {
	d := &daemon{cfg: cfg}
	if role != "monitor" {
		for i := range cfg.Servers {
			if _, err := cfg.bmcSpec(i, cfg.readSecret); err != nil {
				return err
			}
		}
		if _, err := d.loadCerts("rack_manager.tls", cfg.RackManager.TLS); err != nil {
			return err
		}
	}
	if cfg.Etcd.used() {
		own := cfg.RackManager.TLS
		if role == "monitor" {
			own = cfg.Servers[cfg.serverIndex(server)].TLS
		}
		spec, err := cfg.etcdSpec(cfg.readSecret, own)
		if err != nil {
			return err
		}
		if !spec.Plaintext {
			if _, err := rackhttp.LoadFiles(spec.Cert, spec.Key, spec.CA); err != nil {
				return cfg.errAt("etcd.tls", "cannot load the client certificate, its key or the CA", err)
			}
		}
	}
	for i, s := range cfg.Servers {
		if role == "monitor" && s.Name != server {
			continue
		}
		if _, err := cfg.watchdogSpec(i, cfg.readSecret); err != nil {
			return err
		}
		if _, err := cfg.hypervisorSpec(i, role == "all", cfg.readSecret); err != nil {
			return err
		}
		if role == "monitor" {
			if _, err := d.loadCerts(fmt.Sprintf("servers[%d].tls", i), s.TLS); err != nil {
				return err
			}
		}
	}
	return nil
}
