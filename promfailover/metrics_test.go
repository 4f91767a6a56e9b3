package promfailover_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rackha/failover"
	"github.com/rackha/failover/failovertest"
	"github.com/rackha/failover/promfailover"
)

// A simulated power loss on blade-1 shows up in the metrics: one
// detection, one fence, three backups started on blade-2, no alert.
func TestMetricsFollowASimulatedTakeover(t *testing.T) {
	m := promfailover.New()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	var chained int
	cfg := failovertest.DefaultConfig()
	cfg.OnEvent = m.Chain(func(failover.Event) { chained++ })
	r, err := failovertest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := r.Inject(failovertest.Fault{Kind: failovertest.PowerLoss, Server: "blade-1"}); err != nil {
		t.Fatal(err)
	}
	if !r.RunUntilQuiet(ctx, 100) {
		t.Fatal("rack did not settle")
	}
	want := `
# HELP failover_backups_started_total VMs started on a watcher after their server failed, by failed server and watcher.
# TYPE failover_backups_started_total counter
failover_backups_started_total{peer="blade-2",server="blade-1"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "failover_backups_started_total"); err != nil {
		t.Error(err)
	}
	for typ, n := range map[string]float64{"detected": 1, "fenced": 1, "restarted": 1, "recovered": 1} {
		if got := events(t, reg, typ); got != n {
			t.Errorf("failover_events_total{type=%q} = %v, want %v", typ, got, n)
		}
	}
	if n := testutil.CollectAndCount(m, "failover_alerts_total"); n != 0 {
		t.Errorf("%d alert series, want none", n)
	}
	if n := testutil.CollectAndCount(m, "failover_seconds_since_detection"); n != 3 {
		t.Errorf("%d since-detection series, want 3 (fenced, backup-started, restarted)", n)
	}
	if chained != len(r.Events()) {
		t.Errorf("the chained OnEvent saw %d events, the rack %d", chained, len(r.Events()))
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// events returns the value of failover_events_total{type=typ,cause="no-power"}.
func events(t *testing.T, reg *prometheus.Registry, typ string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "failover_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == typ && labels["cause"] == "no-power" {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no failover_events_total{type=%q,cause=\"no-power\"}", typ)
	return 0
}
