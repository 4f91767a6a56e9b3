package promfailover

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rackha/failover"
)

// PhaseOf returns the phase a watched server enters with ev, as a
// failover.Phase name, and false when ev moves no phase: detected and
// everything until the fence is confirmed is "fencing" (an evacuation,
// "evacuating", first), then "starting" while its VMs start on the
// watcher, "recovering" once restarted, "watching" once recovered. Alerts
// move no phase: events do not tell a held takeover or a fence never
// confirmed ("held", "stuck") from other alerts.
func PhaseOf(ev failover.Event) (string, bool) {
	switch ev.Type {
	case failover.EventDetected:
		return failover.PhaseFencing.String(), true
	case failover.EventEvacuating, failover.EventEvacuated:
		return failover.PhaseEvacuating.String(), true
	case failover.EventFenced, failover.EventBackupStarted:
		return failover.PhaseStarting.String(), true
	case failover.EventRestarted:
		return failover.PhaseRecovering.String(), true
	case failover.EventRecovered:
		return failover.PhaseWatching.String(), true
	}
	return "", false
}

// phases tracks each server's phase and its takeover's timing, for the
// state-set gauge failover_server_phase and the histogram
// failover_takeover_seconds.
type phases struct {
	desc     *prometheus.Desc
	takeover prometheus.Histogram

	mu      sync.Mutex
	current map[string]string
	started map[string]time.Duration // latest backup-started Since per server in takeover
	fenced  map[string]time.Duration
}

// allPhases are the values failover_server_phase reports, one series each.
var allPhases = []failover.Phase{failover.PhaseWatching, failover.PhaseInventory, failover.PhaseHeld,
	failover.PhaseEvacuating, failover.PhaseFencing, failover.PhaseStarting, failover.PhaseRestarting,
	failover.PhaseRecovering, failover.PhaseStuck}

func newPhases() *phases {
	return &phases{
		desc: prometheus.NewDesc("failover_server_phase",
			"Phase of each watched server as its watcher's events report it: 1 for the current phase, 0 for the others.",
			[]string{"server", "phase"}, nil),
		takeover: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "failover_takeover_seconds",
			Help:    "Time from a failure's detection until the failed server's VMs all ran on the watcher (its last backup started, else its fence), observed when the server is restarted.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 12), // 0.25 s .. 512 s
		}),
		current: map[string]string{}, started: map[string]time.Duration{}, fenced: map[string]time.Duration{},
	}
}

func (p *phases) record(ev failover.Event) {
	if ev.Server == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ph, ok := PhaseOf(ev); ok {
		p.current[ev.Server] = ph
	}
	switch ev.Type {
	case failover.EventDetected:
		delete(p.started, ev.Server)
		delete(p.fenced, ev.Server)
	case failover.EventFenced:
		p.fenced[ev.Server] = ev.Since
	case failover.EventBackupStarted:
		p.started[ev.Server] = max(p.started[ev.Server], ev.Since)
	case failover.EventRestarted:
		d, ok := p.started[ev.Server]
		if !ok {
			d, ok = p.fenced[ev.Server]
		}
		if ok && d > 0 {
			p.takeover.Observe(d.Seconds())
		}
		delete(p.started, ev.Server)
		delete(p.fenced, ev.Server)
	}
}

func (p *phases) describe(ch chan<- *prometheus.Desc) {
	ch <- p.desc
	p.takeover.Describe(ch)
}

func (p *phases) collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for server, cur := range p.current {
		for _, ph := range allPhases {
			v := 0.0
			if ph.String() == cur {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, v, server, ph.String())
		}
	}
	p.takeover.Collect(ch)
}
