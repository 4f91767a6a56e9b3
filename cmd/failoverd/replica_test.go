package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackhttp"
)

// replicaRack is two rack-manager processes electing a leader on one
// etcd-server process, serving a pair whose BMCs are Redfish test
// servers on a DMTF mockup.
type replicaRack struct {
	t       *testing.T
	dir     string
	cfgs    [2]string // each replica's config file
	urls    [2]string
	rf      map[string]*redfishsim.Server
	env     []string
	rms     [2]*child
	logDirs [2]string
	metrics [2]string // each replica's metrics_addr
	// proxies: each replica reaches etcd through its own, to be
	// partitioned from it.
	proxies [2]*etcdrig.Proxy
}

// leaderGauge reads failover_rack_manager_leader from replica i.
func (r *replicaRack) leaderGauge(i int) string {
	r.t.Helper()
	resp, err := http.Get("http://" + r.metrics[i] + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "failover_rack_manager_leader ") {
			return line
		}
	}
	return "no failover_rack_manager_leader"
}

func newReplicaRack(t *testing.T) *replicaRack {
	t.Helper()
	mockups, err := redfishsim.MockupDir("public-bladed")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skip(err)
	}
	x := etcdrig.StartExternal(t)
	dir := t.TempDir()
	r := &replicaRack{t: t, dir: dir, rf: map[string]*redfishsim.Server{}, env: []string{"BMC_PW=rf-Secret1"}}
	certs, err := makeCerts(filepath.Join(dir, "tls"), []string{"s1", "s2"}, "ops", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var servers strings.Builder
	for _, s := range []string{"s1", "s2"} {
		rf, err := redfishsim.New(mockups, redfishsim.Options{Username: "admin", Password: "rf-Secret1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rf.Close)
		r.rf[s] = rf
		ca := filepath.Join(dir, s+"-rf-ca.pem")
		if err := os.WriteFile(ca, rf.CertPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&servers, `  - name: %s
    bmc: {kind: redfish, url: %q, user: admin, password_env: BMC_PW, ca_file: %q, system: %s, timeout: 2s}
    hypervisor: {kind: libvirt, uri: "test:///default"}
    watchdog: {kind: none}
    tls: {cert: %q, key: %q}
`, s, rf.URL, ca, rfSystem, certs.Cert(s), certs.Key(s))
	}
	var addrs, metricsAddrs [2]string
	for i := range metricsAddrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		metricsAddrs[i] = ln.Addr().String()
		ln.Close()
	}
	r.metrics = metricsAddrs
	for i := range r.proxies {
		r.proxies[i] = etcdrig.NewProxy(t, x.Endpoint)
	}
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		ln.Close()
		r.urls[i] = "https://" + addrs[i]
	}
	for i := range r.cfgs {
		text := fmt.Sprintf(`topology: pairs
servers:
%srack_manager:
  listen: %q
  url: %q
  replicas: [%q, %q]
  election_ttl: 1s
  tls: {cert: %q, key: %q}
  operators: [ops]
  interval: 200ms
  power_timeout: 10s
etcd: {endpoints: [%q], prefix: "/replica-test/", insecure_plaintext: true, request_timeout: 1s}
image_store: {kind: file, dir: %q}
tls: {ca: %q}
operator: {cert: %q, key: %q}
metrics_addr: %q
log: {format: json, level: debug}
`, servers.String(), addrs[i], r.urls[i], r.urls[0], r.urls[1], certs.Cert(rackManagerName), certs.Key(rackManagerName),
			r.proxies[i].Endpoint(), filepath.Join(dir, "images"), certs.CA(), certs.Cert("ops"), certs.Key("ops"), metricsAddrs[i])
		r.cfgs[i] = filepath.Join(dir, fmt.Sprintf("rm%d.yaml", i+1))
		if err := os.WriteFile(r.cfgs[i], []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(r.cfgs[i]); err != nil {
			t.Fatal(err)
		}
		r.logDirs[i] = filepath.Join(dir, fmt.Sprintf("rm%d", i+1))
		os.Mkdir(r.logDirs[i], 0o700)
	}
	t.Cleanup(func() {
		for _, c := range r.rms {
			if c != nil {
				c.stop(10 * time.Second)
			}
		}
	})
	return r
}

// start runs replica i and waits until it listens.
func (r *replicaRack) start(i int) {
	r.t.Helper()
	c, err := startChild(needBinary(r.t), r.logDirs[i], r.cfgs[i], "rack-manager", "", r.env, func(string) {})
	if err != nil {
		r.t.Fatal(err)
	}
	r.rms[i] = c
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c.exited() {
			r.t.Fatalf("replica %d exited:\n%s", i+1, r.logOf(i))
		}
		if conn, err := net.Dial("tcp", strings.TrimPrefix(r.urls[i], "https://")); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("replica %d does not listen:\n%s", i+1, r.logOf(i))
		}
	}
}

func (r *replicaRack) logOf(i int) string {
	b, _ := os.ReadFile(filepath.Join(r.logDirs[i], "rack-manager.log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// client is s1's monitor's client: urls[0] first.
func (r *replicaRack) client(urls ...string) *rackhttp.Client {
	r.t.Helper()
	files, err := rackhttp.LoadFiles(filepath.Join(r.dir, "tls", "s1.pem"), filepath.Join(r.dir, "tls", "s1-key.pem"), filepath.Join(r.dir, "tls", "ca.pem"))
	if err != nil {
		r.t.Fatal(err)
	}
	cc := rackhttp.DefaultClientConfig()
	cc.URL, cc.URLs, cc.TLS, cc.Logger = urls[0], urls[1:], rackhttp.ClientTLS(files, "127.0.0.1"), discardLogger()
	cc.Backoff, cc.MaxBackoff, cc.StallAfter = 50*time.Millisecond, 500*time.Millisecond, 2*time.Second
	c, err := rackhttp.NewClient(cc)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(c.Close)
	return c
}

func nextStatus(t *testing.T, ch <-chan rack.Status, d time.Duration) rack.Status {
	t.Helper()
	select {
	case st, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return st
	case <-time.After(d):
		t.Fatalf("no status within %v", d)
		return rack.Status{}
	}
}

// TestReplicaRackManagers: two rack-manager processes on one etcd; the
// first leads and serves s1's watch, the other answers not_leader. The
// leader is killed (SIGKILL): the other leads within the election TTL,
// s1's client follows it and keeps getting statuses, and power goes
// through the new leader. The killed replica, started again, follows.
func TestReplicaRackManagers(t *testing.T) {
	r := newReplicaRack(t)
	r.start(0)
	only := func(i int) *rackhttp.Client { return r.client(r.urls[i]) }
	deadline := time.Now().Add(10 * time.Second)
	for _, err := only(0).Rack(t.Context()); err != nil; _, err = only(0).Rack(t.Context()) {
		if time.Now().After(deadline) {
			t.Fatalf("replica 1 does not lead: %v\n%s", err, r.logOf(0))
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.start(1)
	if _, err := only(1).Rack(t.Context()); !errors.Is(err, rack.ErrNotLeader) {
		t.Fatalf("replica 2's rack view: %v; want not leader", err)
	}
	if g0, g1 := r.leaderGauge(0), r.leaderGauge(1); g0 != "failover_rack_manager_leader 1" || g1 != "failover_rack_manager_leader 0" {
		t.Errorf("leader gauges: replica 1 %q, replica 2 %q", g0, g1)
	}

	c := r.client(r.urls[1], r.urls[0]) // the follower first
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := c.Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if st := nextStatus(t, ch, 5*time.Second); st.Server != "s2" {
		t.Fatalf("status of %q, want s2", st.Server)
	}

	killed := time.Now()
	r.rms[0].kill()
	for {
		st := nextStatus(t, ch, 10*time.Second)
		if st.Time.After(killed) {
			t.Logf("leader killed: a status polled by the new leader reached the monitor after %v (election TTL 1s)",
				time.Since(killed).Round(time.Millisecond))
			break
		}
	}
	for range 3 {
		nextStatus(t, ch, 2*time.Second)
	}
	// status, configured with the dead replica's URL first, finds the new leader.
	out, err := exec.Command(needBinary(t), "status", "-config", r.cfgs[0], "-json").Output()
	var ee *exec.ExitError
	var rep statusReport
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 3) || json.Unmarshal(out, &rep) != nil || len(rep.Servers) != 2 {
		t.Errorf("status through replica 1's config: %v\n%s", err, out)
	}
	if err := c.Power(t.Context(), "s2", bmc.PowerActionOff); err != nil {
		t.Fatalf("power through the new leader: %v\n%s", err, r.logOf(1))
	}
	if st, _ := r.rf["s2"].Get("/redfish/v1/Systems/" + rfSystem); st["PowerState"] != "Off" {
		t.Errorf("s2 PowerState %v after the new leader's off", st["PowerState"])
	}
	if !strings.Contains(r.logOf(1), "rackelect: leading") {
		t.Errorf("replica 2 did not log its leadership:\n%s", r.logOf(1))
	}

	r.start(0)
	time.Sleep(300 * time.Millisecond)
	if _, err := only(0).Rack(t.Context()); !errors.Is(err, rack.ErrNotLeader) {
		t.Errorf("restarted replica 1: %v; want not leader", err)
	}
	nextStatus(t, ch, 2*time.Second)

	// SIGTERM: the leader resigns, the other leads at once.
	stopped := time.Now()
	r.rms[1].signal(syscall.SIGTERM)
	select {
	case <-r.rms[1].done:
		if code := r.rms[1].cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("replica 2 exited %d on SIGTERM:\n%s", code, r.logOf(1))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("replica 2 did not stop on SIGTERM")
	}
	exited := time.Now()
	for {
		if st := nextStatus(t, ch, 5*time.Second); st.Time.After(exited) {
			t.Logf("leader stopped (SIGTERM): it exited after %v, the new leader's status came %v after the signal",
				exited.Sub(stopped).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
			break
		}
	}
}

// TestReplicaLeaderPartitionedFromEtcd: the leading process loses etcd
// (its requests dropped) but keeps serving. The other leads about a TTL
// later, the deposed one stops (its leader gauge drops, its streams end,
// it refuses power), and s1's client ends up on the new leader. Healed,
// the old leader follows and names the new one.
func TestReplicaLeaderPartitionedFromEtcd(t *testing.T) {
	r := newReplicaRack(t)
	r.start(0)
	waitGauge := func(i int, want string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for r.leaderGauge(i) != "failover_rack_manager_leader "+want {
			if time.Since(start) > within {
				t.Fatalf("replica %d: %s after %v, want %s\n%s", i+1, r.leaderGauge(i), within, want, r.logOf(i))
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitGauge(0, "1", 10*time.Second)
	r.start(1)
	c := r.client(r.urls[0], r.urls[1])
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := c.Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	nextStatus(t, ch, 5*time.Second)

	r.proxies[0].Set(etcdrig.LoseRequests)
	took := waitGauge(1, "1", 5*time.Second)
	// At once, while the old leader most likely still believes it leads
	// (it learns at its lease's end, up to half a second after etcd's):
	// its power guard cannot reach etcd and refuses.
	only0 := r.client(r.urls[0])
	if err := only0.Power(t.Context(), "s2", bmc.PowerActionOff); !errors.Is(err, rack.ErrNotLeader) {
		t.Errorf("power through the deposed leader: %v; want not leader", err)
	}
	if st, _ := r.rf["s2"].Get("/redfish/v1/Systems/" + rfSystem); st["PowerState"] != "On" {
		t.Fatalf("s2 PowerState %v after the deposed leader's refusal", st["PowerState"])
	}
	if strings.Contains(r.logOf(0), "leadership not confirmed in etcd") {
		t.Log("the deposed leader still believed it led: its guard refused")
	} else {
		t.Log("the deposed leader knew already: its handler refused")
	}
	deposed := waitGauge(0, "0", 5*time.Second)
	t.Logf("leader cut off from etcd: the other led after %v, the old one knew it %v later", took.Round(time.Millisecond), deposed.Round(time.Millisecond))
	stopped := time.Now()
	for {
		// The old leader polls no more: a status read from now on is the new one's.
		if st := nextStatus(t, ch, 5*time.Second); st.Time.After(stopped) {
			break
		}
	}
	if err := c.Power(t.Context(), "s2", bmc.PowerActionOff); err != nil {
		t.Fatalf("power through the client: %v", err)
	}
	if st, _ := r.rf["s2"].Get("/redfish/v1/Systems/" + rfSystem); st["PowerState"] != "Off" {
		t.Errorf("s2 PowerState %v after the new leader's off", st["PowerState"])
	}

	r.proxies[0].Cut(etcdrig.Pass)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := only0.Rack(t.Context())
		if errors.Is(err, rack.ErrNotLeader) && strings.Contains(err.Error(), "the leader is "+r.urls[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healed old leader: %v; want not leader naming %s", err, r.urls[1])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if g := r.leaderGauge(0); g != "failover_rack_manager_leader 0" {
		t.Errorf("healed old leader: %s", g)
	}
}

// TestReplicaMonitorTakesOverThroughNewLeader: the rack of
// multiprocess_test.go (ipmi_sim, Redfish, libvirt test hosts, monitor
// processes) with two rack-manager replicas on etcd-server. The leading
// replica is killed; then s2 loses power, and s1's monitor, which
// followed the new leader on its own, detects it, fences it through the
// new leader and starts s2's VM.
func TestReplicaMonitorTakesOverThroughNewLeader(t *testing.T) {
	r := newRealRack(t)
	x := etcdrig.StartExternal(t)
	text, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := LoadConfig(r.cfg)
	rm1 := cfg.RackManager.Listen
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rm2 := ln.Addr().String()
	ln.Close()
	replicated := strings.Replace(string(text), fmt.Sprintf("  url: \"https://%s\"\n", rm1), fmt.Sprintf(
		"  url: \"https://%s\"\n  replicas: [\"https://%s\", \"https://%s\"]\n  election_ttl: 1s\n", rm1, rm1, rm2), 1)
	replicated += fmt.Sprintf("etcd: {endpoints: [%q], prefix: \"/takeover-test/\", insecure_plaintext: true, request_timeout: 1s}\n", x.Endpoint)
	if err := os.WriteFile(r.cfg, []byte(replicated), 0o600); err != nil { // the monitors' and replica 1's
		t.Fatal(err)
	}
	cfg2 := filepath.Join(r.dir, "rm2.yaml")
	if err := os.WriteFile(cfg2, []byte(strings.NewReplacer(
		fmt.Sprintf("listen: %q", rm1), fmt.Sprintf("listen: %q", rm2),
		fmt.Sprintf("  url: \"https://%s\"", rm1), fmt.Sprintf("  url: \"https://%s\"", rm2),
	).Replace(replicated)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{r.cfg, cfg2} {
		if c, err := LoadConfig(p); err != nil || !c.replicated() {
			t.Fatalf("%s: %v", p, err)
		}
	}
	ops := func(url string) *rackhttp.Client {
		files, err := rackhttp.LoadFiles(filepath.Join(r.dir, "tls", "ops.pem"), filepath.Join(r.dir, "tls", "ops-key.pem"), filepath.Join(r.dir, "tls", "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cc := rackhttp.DefaultClientConfig()
		cc.URL, cc.TLS, cc.Logger = url, rackhttp.ClientTLS(files, "127.0.0.1"), discardLogger()
		c, err := rackhttp.NewClient(cc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	leads := func(addr string, within time.Duration) {
		t.Helper()
		c := ops("https://" + addr)
		for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
			if _, err := c.Rack(t.Context()); err == nil {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("%s does not lead within %v: %v", addr, within, err)
			}
		}
	}
	start := func(name, config string) *child {
		dir := filepath.Join(r.dir, name)
		os.Mkdir(dir, 0o700)
		c, err := startChild(needBinary(t), dir, config, "rack-manager", "", r.env, r.log.line)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.stop(10 * time.Second) })
		return c
	}
	first := start("rm1", r.cfg)
	leads(rm1, 10*time.Second)
	start("rm2", cfg2)
	s1 := r.startMonitor("s1")
	s2 := r.startMonitor("s2")
	r.wait(20*time.Second, "s2 starts its VM", event(failover.EventReconciled, "s2", "vm-b1", s2.pid()))
	time.Sleep(500 * time.Millisecond) // healthy statuses first

	first.kill()
	killed := time.Now()
	leads(rm2, 5*time.Second)
	t.Logf("replica 2 leads %v after replica 1's SIGKILL", time.Since(killed).Round(time.Millisecond))
	s2.kill() // s2's blade loses power, its monitor with it
	if err := r.rf.Set("/redfish/v1/Systems/"+rfSystem, map[string]any{"PowerState": "Off"}); err != nil {
		t.Fatal(err)
	}
	r.wait(30*time.Second, "s1 fences s2 through the new leader", event(failover.EventFenced, "s2", "", s1.pid()))
	r.wait(30*time.Second, "s1 starts vm-b1", event(failover.EventBackupStarted, "s2", "vm-b1", s1.pid()))
	if o := r.owner("vm-b1"); o != "s1" {
		t.Errorf("vm-b1 owned by %q, want s1", o)
	}
	b, _ := os.ReadFile(filepath.Join(r.dir, "rm2", "rack-manager.log"))
	if !strings.Contains(string(b), `"outcome":"confirmed"`) {
		t.Errorf("replica 2 audited no confirmed power action:\n%s", b)
	}
}
