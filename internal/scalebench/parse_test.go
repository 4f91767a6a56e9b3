package scalebench

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with a space and a ')' must not shift the fields.
	line := "4242 (fail (over) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 9 0 123 0 0"
	got, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3200 * time.Millisecond; got != want {
		t.Errorf("utime+stime = %v, want %v (250 + 70 ticks)", got, want)
	}
	for _, bad := range []string{"no name here", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 -5 3"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) = nil error", bad)
		}
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	before, err := cpuTime(0)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := cpuTime(0)
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("CPU time %v then %v after 50 ms of spinning", before, after)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP grpc_server_msg_received_total Total number of RPC stream messages received on the server.
# TYPE grpc_server_msg_received_total counter
grpc_server_msg_received_total{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 12
grpc_server_msg_received_total{grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3
grpc_server_msg_received_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} 7.5e+01
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 99
`
	c, err := parseEtcdMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if c["KV/Range"] != 12 || c["KV/Txn"] != 3 || c["Lease/LeaseKeepAlive"] != 75 || c.total() != 90 {
		t.Errorf("parsed %v", c)
	}
	later := counts{"KV/Range": 20, "KV/Txn": 3, "Lease/LeaseKeepAlive": 80}
	if d := later.since(c); d["KV/Range"] != 8 || d["Lease/LeaseKeepAlive"] != 5 || len(d) != 2 {
		t.Errorf("since = %v", d)
	}
	if _, err := parseEtcdMetrics(strings.NewReader("go_goroutines 12\n")); err == nil {
		t.Error("metrics without the gRPC counter parsed as idle")
	}
	if _, err := parseEtcdMetrics(strings.NewReader(`grpc_server_msg_received_total{grpc_method="Range"} many` + "\n")); err == nil {
		t.Error("a value that is not a number parsed")
	}

	rm := `failover_bmc_call_duration_seconds_count{call="health",server="r1-s0001"} 40
failover_bmc_call_duration_seconds_count{call="health",server="r1-s0002"} 41
failover_bmc_call_duration_seconds_count{call="readings",server="r1-s0001"} 10
failover_bmc_call_duration_seconds_sum{call="health",server="r1-s0001"} 0.5
`
	calls, err := parseBMCCalls(strings.NewReader(rm))
	if err != nil {
		t.Fatal(err)
	}
	if calls["health"] != 81 || calls["readings"] != 10 || len(calls) != 2 {
		t.Errorf("BMC calls %v", calls)
	}
	// A label whose name ends like another's is not that label.
	if got := label(`xcall="no",call="yes"`, "call"); got != "yes" {
		t.Errorf("label = %q, want yes", got)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 40; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 20 * time.Millisecond}, {99, 40 * time.Millisecond}, {100, 40 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("p%v of 1..40 ms = %v, want %v", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}

func TestFailingServersNeverNeighbours(t *testing.T) {
	for _, c := range []Config{DefaultConfig(), SmallConfig(), {Racks: 3, Replicas: 1, ServersPerRack: 7, Failing: 8}} {
		total := 0
		for r, idx := range failingServers(c) {
			total += len(idx)
			seen := map[int]bool{}
			for _, i := range idx {
				if i < 0 || i >= c.ServersPerRack {
					t.Fatalf("%+v: rack %d: index %d out of range", c, r, i)
				}
				seen[i] = true
			}
			for _, i := range idx {
				if seen[(i+1)%c.ServersPerRack] {
					t.Errorf("%+v: rack %d: %d and its ring neighbour both fail", c, r, i)
				}
			}
		}
		if total != c.Failing {
			t.Errorf("%+v: %d servers fail, want %d", c, total, c.Failing)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{DefaultConfig(), SmallConfig()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := map[string]func(*Config){
		"Racks":          func(c *Config) { c.Racks = 0 },
		"Replicas":       func(c *Config) { c.Replicas = 0 },
		"ServersPerRack": func(c *Config) { c.ServersPerRack = 2 },
		"VMsPerServer":   func(c *Config) { c.VMsPerServer = 0 },
		"Failing 0":      func(c *Config) { c.Failing = 0 },
		"Failing":        func(c *Config) { c.Failing = 4 * 126 },
		"Warmup":         func(c *Config) { c.Warmup = -time.Second },
		"Steady":         func(c *Config) { c.Steady = time.Millisecond },
		"TakeoverLimit":  func(c *Config) { c.TakeoverLimit = 0 },
	}
	for field, f := range bad {
		c := DefaultConfig()
		f(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), strings.Fields(field)[0]) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig naming it", field, err)
		}
	}
}
