package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rackha/failover"
)

// metrics_addr and rack_manager.page are checked, naming the field.
func TestMetricsAndPageConfigChecked(t *testing.T) {
	for _, c := range []struct {
		name, add, want string
	}{
		{"metrics_addr", "metrics_addr: nine-thousand\n", "metrics_addr"},
		{"page listen", "", "rack_manager.page.listen"},
		{"token without page", "", "rack_manager.page.token_file"},
	} {
		text := goodConfig + c.add
		switch c.name {
		case "page listen":
			text = strings.Replace(goodConfig, "rack_manager:\n", "rack_manager:\n  page: {listen: localhost}\n", 1)
		case "token without page":
			text = strings.Replace(goodConfig, "rack_manager:\n", "rack_manager:\n  page: {token_file: /run/token}\n", 1)
		}
		if text == goodConfig {
			t.Fatalf("%s: test bug: the config is unchanged", c.name)
		}
		_, err := ParseConfig("rack.yaml", []byte(text))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a config error naming %s", c.name, err, c.want)
		}
	}
	good := strings.Replace(goodConfig, "rack_manager:\n", "rack_manager:\n  page: {listen: \"127.0.0.1:7444\", token_file: /run/token}\n", 1) +
		"metrics_addr: \"127.0.0.1:9110\"\n"
	cfg, err := ParseConfig("rack.yaml", []byte(good))
	if err != nil {
		t.Fatalf("a good page and metrics config refused: %v", err)
	}
	if cfg.MetricsAddr != "127.0.0.1:9110" || cfg.RackManager.Page.Listen != "127.0.0.1:7444" || cfg.RackManager.Page.TokenFile != "/run/token" {
		t.Errorf("parsed %q %+v", cfg.MetricsAddr, cfg.RackManager.Page)
	}
}

// metrics_addr serves the process's metrics at /metrics until the
// context ends: a monitor's event shows, and the text parses.
func TestMetricsServed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := newMetrics()
	run, err := m.listen(addr, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	m.onEvent(func(failover.Event) {})(failover.Event{Time: time.Now(), Type: failover.EventDetected, Server: "s1", Peer: "s2", Cause: failover.CauseNoPower})
	var resp *http.Response
	for i := 0; ; i++ {
		if resp, err = http.Get("http://" + addr + "/metrics"); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	found := false
	for _, s := range fams["failover_server_phase"].GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		found = found || (labels["server"] == "s1" && labels["phase"] == "fencing" && s.GetGauge().GetValue() == 1)
	}
	if !found || fams["go_goroutines"] == nil {
		t.Errorf("/metrics lacks s1 fencing or the Go collector: %v", fams["failover_server_phase"])
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("metrics server stopped with %v", err)
	}
}
