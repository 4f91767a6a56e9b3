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
etcd: {endpoints: [%q], prefix: "/replica-test/", insecure_plaintext: true}
image_store: {kind: file, dir: %q}
tls: {ca: %q}
operator: {cert: %q, key: %q}
metrics_addr: %q
log: {format: json, level: debug}
`, servers.String(), addrs[i], r.urls[i], r.urls[0], r.urls[1], certs.Cert(rackManagerName), certs.Key(rackManagerName),
			x.Endpoint, filepath.Join(dir, "images"), certs.CA(), certs.Cert("ops"), certs.Key("ops"), metricsAddrs[i])
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
