package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rackha/failover"
	"github.com/rackha/failover/promfailover"
	"github.com/rackha/failover/rack"
)

// metrics are one process's Prometheus metrics: its monitors' events
// (promfailover.Metrics) and its rack manager's BMCs (promfailover.Rack),
// with the Go and process collectors. A nil *metrics records nothing.
type metrics struct {
	reg  *prometheus.Registry
	mon  *promfailover.Metrics
	rack *promfailover.Rack
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), mon: promfailover.New(), rack: promfailover.NewRack()}
	m.reg.MustRegister(m.mon, m.rack, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// instrument times and counts s's BMC calls.
func (m *metrics) instrument(s rack.Server) rack.Server {
	if m == nil {
		return s
	}
	return m.rack.Instrument(s)
}

// watch reports l's BMCs' reachability and power.
func (m *metrics) watch(l *rack.Local) {
	if m != nil {
		m.rack.Watch(l)
	}
}

// onEvent records each event, then calls next.
func (m *metrics) onEvent(next func(failover.Event)) func(failover.Event) {
	if m == nil {
		return next
	}
	return m.mon.Chain(next)
}

// handler serves the metrics in Prometheus' text format.
func (m *metrics) handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})
}

// listen opens addr and returns the run func serving /metrics on it
// until ctx ends.
func (m *metrics) listen(addr string, log *slog.Logger) (func(context.Context) error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler(log))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	return func(ctx context.Context) error {
		log.Info("failoverd: metrics serving", "addr", ln.Addr().String())
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
			}
			return nil
		case err := <-served:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("metrics: serve: %w", err)
		}
	}, nil
}
