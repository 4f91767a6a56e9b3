package promfailover

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// Rack holds the rack manager's collectors: BMC calls timed and counted
// by the adapters Instrument wraps, and, from the journals of the
// rack.Local given to Watch, each BMC's reachability and power at its
// latest poll. Register it with a prometheus.Registerer. Safe for
// concurrent use.
type Rack struct {
	calls   *prometheus.HistogramVec
	errs    *prometheus.CounterVec
	actions *prometheus.CounterVec
	up      *prometheus.Desc
	powerOn *prometheus.Desc

	mu    sync.Mutex
	local *rack.Local
}

// NewRack returns unregistered rack manager metrics named failover_bmc_*.
func NewRack() *Rack {
	return &Rack{
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "failover_bmc_call_duration_seconds",
			Help:    "Duration of each BMC call the rack manager made (health, readings, watchdog_state, power_state, set_power), by server and call.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12), // 5 ms .. 10 s
		}, []string{"server", "call"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_bmc_call_errors_total",
			Help: "BMC calls that returned an error, by server and call.",
		}, []string{"server", "call"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_power_actions_total",
			Help: "Power actions the rack manager carried out on a BMC (what its audit log records as done or failed), by server, action (off, on, cycle) and outcome (ok, error).",
		}, []string{"server", "action", "outcome"}),
		up: prometheus.NewDesc("failover_bmc_up",
			"1 if the server's BMC answered at the rack manager's latest poll, 0 if not (as ipmi_exporter's ipmi_up). Absent before the first poll.",
			[]string{"server"}, nil),
		powerOn: prometheus.NewDesc("failover_bmc_power_on",
			"1 if the server's power was on at the latest poll that read it, 0 otherwise.",
			[]string{"server"}, nil),
	}
}

// Watch makes l's journals the source of failover_bmc_up and
// failover_bmc_power_on.
func (r *Rack) Watch(l *rack.Local) {
	r.mu.Lock()
	r.local = l
	r.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (r *Rack) Describe(ch chan<- *prometheus.Desc) {
	r.calls.Describe(ch)
	r.errs.Describe(ch)
	r.actions.Describe(ch)
	ch <- r.up
	ch <- r.powerOn
}

// Collect implements prometheus.Collector.
func (r *Rack) Collect(ch chan<- prometheus.Metric) {
	r.calls.Collect(ch)
	r.errs.Collect(ch)
	r.actions.Collect(ch)
	r.mu.Lock()
	l := r.local
	r.mu.Unlock()
	if l == nil {
		return
	}
	for _, s := range l.Topology().Servers() {
		j := l.Journal(s)
		if j == nil {
			continue
		}
		last, ok := j.Last()
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(r.up, prometheus.GaugeValue, bool01(last.Reachable), s)
		if last.HealthErr == "" && last.Reachable {
			ch <- prometheus.MustNewConstMetric(r.powerOn, prometheus.GaugeValue, bool01(last.Health.Power == bmc.PowerOn), s)
		}
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Instrument returns s with each of its BMC adapters timed and counted.
// An adapter that pushes events (bmc.EventSource) still does.
func (r *Rack) Instrument(s rack.Server) rack.Server {
	t := timer{r: r, server: s.Name}
	if s.Health != nil {
		h := instrumentedHealth{t, s.Health}
		if src, ok := s.Health.(bmc.EventSource); ok {
			s.Health = struct {
				instrumentedHealth
				bmc.EventSource
			}{h, src}
		} else {
			s.Health = h
		}
	}
	if s.Sensors != nil {
		rs := instrumentedSensors{t, s.Sensors}
		if src, ok := s.Sensors.(bmc.EventSource); ok {
			s.Sensors = struct {
				instrumentedSensors
				bmc.EventSource
			}{rs, src}
		} else {
			s.Sensors = rs
		}
	}
	if s.Watchdog != nil {
		s.Watchdog = instrumentedWatchdog{s.Watchdog, t}
	}
	if s.Power != nil {
		s.Power = instrumentedPower{t, s.Power}
	}
	return s
}

// timer observes one server's calls.
type timer struct {
	r      *Rack
	server string
}

func (t timer) observe(call string, start time.Time, err error) {
	t.r.calls.WithLabelValues(t.server, call).Observe(time.Since(start).Seconds())
	if err != nil {
		t.r.errs.WithLabelValues(t.server, call).Inc()
	}
}

type instrumentedHealth struct {
	t     timer
	inner bmc.HealthReader
}

func (h instrumentedHealth) Health(ctx context.Context) (bmc.Health, error) {
	start := time.Now()
	v, err := h.inner.Health(ctx)
	h.t.observe("health", start, err)
	return v, err
}

type instrumentedSensors struct {
	t     timer
	inner sensor.Source
}

func (s instrumentedSensors) Readings(ctx context.Context) ([]sensor.Reading, error) {
	start := time.Now()
	v, err := s.inner.Readings(ctx)
	s.t.observe("readings", start, err)
	return v, err
}

// instrumentedWatchdog times State, the only call the rack manager makes.
type instrumentedWatchdog struct {
	watchdog.Watchdog
	t timer
}

func (w instrumentedWatchdog) State(ctx context.Context) (watchdog.State, error) {
	start := time.Now()
	v, err := w.Watchdog.State(ctx)
	w.t.observe("watchdog_state", start, err)
	return v, err
}

type instrumentedPower struct {
	t     timer
	inner bmc.Power
}

func (p instrumentedPower) PowerState(ctx context.Context) (bmc.PowerState, error) {
	start := time.Now()
	v, err := p.inner.PowerState(ctx)
	p.t.observe("power_state", start, err)
	return v, err
}

func (p instrumentedPower) SetPower(ctx context.Context, action bmc.PowerAction) error {
	start := time.Now()
	err := p.inner.SetPower(ctx, action)
	p.t.observe("set_power", start, err)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	p.t.r.actions.WithLabelValues(p.t.server, action.String(), outcome).Inc()
	return err
}
