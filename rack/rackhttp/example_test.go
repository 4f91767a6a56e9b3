package rackhttp_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackhttp"
)

// The rack manager's side: serve a rack.Local over mutual TLS, reloading
// the certificates on SIGHUP.
func ExampleNewHandler() {
	var local *rack.Local // from rack.NewLocal, running Local.Run
	certs, err := rackhttp.LoadFiles("/etc/failoverd/rack-manager.crt", "/etc/failoverd/rack-manager.key", "/etc/failoverd/ca.crt")
	if err != nil {
		log.Fatal(err)
	}
	cfg := rackhttp.DefaultHandlerConfig()
	cfg.Local, cfg.Topology = local, local.Topology()
	cfg.Audit = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := rackhttp.NewHandler(cfg)
	if err != nil {
		log.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if err := certs.Reload(); err != nil {
				slog.Error("certificates not reloaded; the old ones stay", "err", err)
			}
		}
	}()
	srv := rackhttp.NewServer(":7443", h, rackhttp.ServerTLS(certs), slog.Default())
	log.Fatal(srv.ListenAndServeTLS("", ""))
}

// A monitor's side: the Client is the failover.Config's Manager.
func ExampleNewClient() {
	certs, err := rackhttp.LoadFiles("/etc/failoverd/s1.crt", "/etc/failoverd/s1.key", "/etc/failoverd/ca.crt")
	if err != nil {
		log.Fatal(err)
	}
	cfg := rackhttp.DefaultClientConfig()
	cfg.URL = "https://rack-manager:7443"
	cfg.TLS = rackhttp.ClientTLS(certs, "rack-manager")
	c, err := rackhttp.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	statuses, err := c.Watch(context.Background(), certs.Name())
	if err != nil {
		log.Fatal(err)
	}
	for st := range statuses {
		log.Printf("%s at %v: reachable %v", st.Server, st.Time, st.Reachable)
	}
}
