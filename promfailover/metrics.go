// Package promfailover exports what failover monitors do as Prometheus
// metrics: events by type and cause, VMs taken over, alerts, how long
// after detection each takeover step happened, each watched server's
// phase and the takeover durations (Metrics; feed it every event with
// Metrics.Record, a failover.Config.OnEvent, alone or chained with
// another). For the rack manager, Rack exports each BMC's reachability
// (failover_bmc_up, after ipmi_exporter's ipmi_up), call latencies and
// errors, and the power actions done. Safe for concurrent use.
package promfailover

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rackha/failover"
)

// Metrics holds the collectors. Register it with a prometheus.Registerer.
type Metrics struct {
	events  *prometheus.CounterVec
	backups *prometheus.CounterVec
	alerts  *prometheus.CounterVec
	since   *prometheus.HistogramVec
	phases  *phases
}

// New returns unregistered metrics named failover_*.
func New() *Metrics {
	return &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_events_total",
			Help: "Events reported by failover monitors, by type and cause.",
		}, []string{"type", "cause"}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_backups_started_total",
			Help: "VMs started on a watcher after their server failed, by failed server and watcher.",
		}, []string{"server", "peer"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_alerts_total",
			Help: "Alerts (something needs a person), by server and cause.",
		}, []string{"server", "cause"}),
		since: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "failover_seconds_since_detection",
			Help:    "Time from a failure's detection to each later step (fenced, evacuated, backup-started, restarted).",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 12), // 0.1 s .. 205 s
		}, []string{"type"}),
		phases: newPhases(),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.events.Describe(ch)
	m.backups.Describe(ch)
	m.alerts.Describe(ch)
	m.since.Describe(ch)
	m.phases.describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.events.Collect(ch)
	m.backups.Collect(ch)
	m.alerts.Collect(ch)
	m.since.Collect(ch)
	m.phases.collect(ch)
}

// Record counts one event.
func (m *Metrics) Record(ev failover.Event) {
	m.events.WithLabelValues(string(ev.Type), string(ev.Cause)).Inc()
	m.phases.record(ev)
	switch ev.Type {
	case failover.EventBackupStarted:
		m.backups.WithLabelValues(ev.Server, ev.Peer).Inc()
	case failover.EventAlert:
		m.alerts.WithLabelValues(ev.Server, string(ev.Cause)).Inc()
	}
	switch ev.Type {
	case failover.EventFenced, failover.EventEvacuated, failover.EventBackupStarted, failover.EventRestarted:
		if ev.Since > 0 {
			m.since.WithLabelValues(string(ev.Type)).Observe(ev.Since.Seconds())
		}
	}
}

// Chain returns an OnEvent that records ev and then calls next (if any).
func (m *Metrics) Chain(next func(failover.Event)) func(failover.Event) {
	return func(ev failover.Event) {
		m.Record(ev)
		if next != nil {
			next(ev)
		}
	}
}
