package promfailover_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/failovertest"
	"github.com/rackha/failover/promfailover"
	"github.com/rackha/failover/rack"
)

// scrape serves reg over HTTP as Prometheus does and parses the answer
// with Prometheus' text parser.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	return fams
}

// value returns the value of the series of fam whose labels include all
// of labels, and whether there is one.
func value(fams map[string]*dto.MetricFamily, fam string, labels ...string) (float64, bool) {
	f := fams[fam]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// A rack manager's BMC metrics: the one whose BMC stops answering goes
// to failover_bmc_up 0 with its call errors counted; the other stays 1
// with latencies observed; a fence is counted as a power action.
func TestRackMetricsScrape(t *testing.T) {
	r := promfailover.NewRack()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(r); err != nil {
		t.Fatal(err)
	}
	topo, err := rack.Pairs("s1", "s2")
	if err != nil {
		t.Fatal(err)
	}
	lc := rack.DefaultLocalConfig()
	lc.Topology, lc.Logger, lc.FastInterval = topo, slog.New(slog.DiscardHandler), -1
	bmcs := map[string]*simbmc.BMC{}
	for _, name := range []string{"s1", "s2"} {
		b, err := simbmc.New(simbmc.DefaultConfig(name))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		bmcs[name] = b
		lc.Servers = append(lc.Servers, r.Instrument(rack.Server{Name: name, Sensors: b, Health: b, Watchdog: b, Power: b}))
	}
	local, err := rack.NewLocal(lc)
	if err != nil {
		t.Fatal(err)
	}
	r.Watch(local)
	ctx := context.Background()
	if fams := scrape(t, reg); fams["failover_bmc_up"] != nil {
		t.Fatalf("failover_bmc_up before any poll: %v", fams["failover_bmc_up"])
	}
	bmcs["s2"].SetUnreachable(true)
	local.Poll(ctx)
	if err := local.Power(ctx, "s1", bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	local.Poll(ctx)
	fams := scrape(t, reg)
	for _, c := range []struct {
		fam    string
		labels []string
		want   float64
	}{
		{"failover_bmc_up", []string{"server", "s1"}, 1},
		{"failover_bmc_up", []string{"server", "s2"}, 0},
		{"failover_bmc_power_on", []string{"server", "s1"}, 0},
		{"failover_power_actions_total", []string{"server", "s1", "action", bmc.PowerActionOff.String(), "outcome", "ok"}, 1},
		{"failover_bmc_call_duration_seconds", []string{"server", "s1", "call", "readings"}, 2},
		{"failover_bmc_call_duration_seconds", []string{"server", "s1", "call", "set_power"}, 1},
		{"failover_bmc_call_errors_total", []string{"server", "s2", "call", "health"}, 2},
	} {
		got, ok := value(fams, c.fam, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.fam, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(fams, "failover_bmc_call_errors_total", "server", "s1"); ok {
		t.Errorf("s1 answered every call, yet has errors counted")
	}
	if _, ok := value(fams, "failover_bmc_power_on", "server", "s2"); ok {
		t.Errorf("failover_bmc_power_on of unreachable s2 is reported")
	}
}

// A monitor's metrics through a simulated takeover: blade-1's phase goes
// to recovering with the other phases 0, and one takeover is observed.
func TestMonitorPhaseAndTakeoverScrape(t *testing.T) {
	m := promfailover.New()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	var seen []string
	cfg := failovertest.DefaultConfig()
	cfg.OnEvent = m.Chain(func(ev failover.Event) {
		if ph, ok := promfailover.PhaseOf(ev); ok && ev.Server == "blade-1" {
			if len(seen) == 0 || seen[len(seen)-1] != ph {
				seen = append(seen, ph)
			}
		}
	})
	rk, err := failovertest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rk.Close()
	if err := rk.Inject(failovertest.Fault{Kind: failovertest.PowerLoss, Server: "blade-1"}); err != nil {
		t.Fatal(err)
	}
	if !rk.RunUntilQuiet(context.Background(), 100) {
		t.Fatal("rack did not settle")
	}
	if got, want := strings.Join(seen, " "), "fencing starting recovering"; !strings.HasPrefix(got, want) {
		t.Errorf("blade-1's phases %q, want them to begin %q", got, want)
	}
	fams := scrape(t, reg)
	last := seen[len(seen)-1]
	for _, ph := range []string{"watching", "fencing", "starting", "recovering"} {
		want := 0.0
		if ph == last {
			want = 1
		}
		if got, ok := value(fams, "failover_server_phase", "server", "blade-1", "phase", ph); !ok || got != want {
			t.Errorf("failover_server_phase{blade-1,%s} = %v (present %v), want %v", ph, got, ok, want)
		}
	}
	if n, ok := value(fams, "failover_takeover_seconds"); !ok || n != 1 {
		t.Errorf("failover_takeover_seconds count = %v (present %v), want 1", n, ok)
	}
	if h := fams["failover_takeover_seconds"].Metric[0].Histogram; !(h.GetSampleSum() > 0) || h.GetSampleSum() > time.Minute.Seconds() {
		t.Errorf("failover_takeover_seconds sum %v s, want a takeover's duration", h.GetSampleSum())
	}
}
