package rackhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackelect"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdOnce is one embedded etcd for the replica tests of this binary.
var etcdOnce struct {
	sync.Once
	endpoint string
	err      error
	prefixes int
	mu       sync.Mutex
}

func etcdEndpoint(t *testing.T) (endpoint, prefix string) {
	t.Helper()
	etcdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rackhttp-etcd-")
		if err != nil {
			etcdOnce.err = err
			return
		}
		// Left running until the test binary exits: other tests may share it.
		_, etcdOnce.endpoint, etcdOnce.err = etcdrig.StartEmbedded(dir, nil)
	})
	if etcdOnce.err != nil {
		t.Fatalf("embedded etcd: %v", etcdOnce.err)
	}
	etcdOnce.mu.Lock()
	defer etcdOnce.mu.Unlock()
	etcdOnce.prefixes++
	return etcdOnce.endpoint, fmt.Sprintf("/rackhttp-test/%d/", etcdOnce.prefixes)
}

// replica is one rack manager replica: its own rack.Local over the
// rack's BMCs (guarded by its Elector), Handler and listener.
type replica struct {
	url    string
	el     *rackelect.Elector
	etcd   *clientv3.Client
	server *http.Server
	conns  *connTracker
	polls  *countingHealth
	stop   context.CancelFunc
	done   chan struct{}
}

// countingHealth counts one replica's reads of a BMC.
type countingHealth struct {
	bmc.HealthReader
	mu sync.Mutex
	n  int
}

func (c *countingHealth) Health(ctx context.Context) (bmc.Health, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.HealthReader.Health(ctx)
}

func (c *countingHealth) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// hooked runs hook, when set, before each power command.
type hooked struct {
	bmc.Power
	hook *atomic.Pointer[func()]
}

func (h *hooked) SetPower(ctx context.Context, a bmc.PowerAction) error {
	if f := h.hook.Load(); f != nil {
		(*f)()
	}
	return h.Power.SetPower(ctx, a)
}

type replicaSet struct {
	t        *testing.T
	endpoint string
	prefix   string
	hook     atomic.Pointer[func()] // run by s2's power before its BMC's
	ca       *testCA
	bmcs     map[string]*simbmc.BMC
	replicas []*replica
	audit    *auditLog
}

// newReplicas starts n replicas of a rack of s1, s2 on one etcd; the
// first started leads (it campaigns before the others start).
func newReplicas(t *testing.T, n int) *replicaSet {
	t.Helper()
	endpoint, prefix := etcdEndpoint(t)
	rs := &replicaSet{t: t, endpoint: endpoint, prefix: prefix, ca: newCA(t, "rack CA"), bmcs: map[string]*simbmc.BMC{}, audit: &auditLog{}}
	topo, err := rack.Pairs("s1", "s2")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"s1", "s2"} {
		b, err := simbmc.New(simbmc.DefaultConfig(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		rs.bmcs[name] = b
	}
	certDir := t.TempDir()
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{url: "https://" + ln.Addr().String(), conns: &connTracker{Listener: ln, conns: map[net.Conn]bool{}},
			polls: &countingHealth{HealthReader: rs.bmcs["s1"]}, done: make(chan struct{})}
		r.etcd, err = clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.etcd.Close() })
		ec := rackelect.DefaultConfig()
		ec.Client, ec.Prefix, ec.Name, ec.TTL, ec.Logger = r.etcd, prefix, r.url, 2*time.Second, quiet
		ec.TxnTimeout, ec.InFlightHold = time.Second, time.Second
		if r.el, err = rackelect.New(ec); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.el.Close() })
		lc := rack.DefaultLocalConfig()
		lc.Topology, lc.Logger, lc.Interval, lc.FastInterval, lc.PowerTimeout = topo, quiet, 100*time.Millisecond, -1, 5*time.Second
		for _, name := range []string{"s1", "s2"} {
			b := rs.bmcs[name]
			var health bmc.HealthReader = b
			var power bmc.Power = b
			if name == "s1" {
				health = r.polls
			} else {
				power = &hooked{Power: b, hook: &rs.hook}
			}
			lc.Servers = append(lc.Servers, rack.Server{Name: name, Sensors: b, Health: health, Watchdog: b, Power: r.el.Guard(name, power)})
		}
		local, err := rack.NewLocal(lc)
		if err != nil {
			t.Fatal(err)
		}
		hc := DefaultHandlerConfig()
		hc.Local, hc.Topology, hc.Logger, hc.Leadership = local, topo, quiet, r.el
		hc.Audit = slog.New(slog.NewJSONHandler(rs.audit, nil))
		hc.Heartbeat = 100 * time.Millisecond
		h, err := NewHandler(hc)
		if err != nil {
			t.Fatal(err)
		}
		cert, key, caFile := rs.ca.issueIn(t, certDir, "rack-manager")
		files, err := LoadFiles(cert, key, caFile)
		if err != nil {
			t.Fatal(err)
		}
		r.server = NewServer("", h, ServerTLS(files), quiet)
		go func() { _ = r.server.ServeTLS(r.conns, "", "") }()
		t.Cleanup(func() { r.server.Close() })
		ctx, cancel := context.WithCancel(context.Background())
		r.stop = cancel
		go func() {
			defer close(r.done)
			_ = r.el.Lead(ctx, local.Run) // only the leader polls
		}()
		t.Cleanup(func() { cancel(); <-r.done })
		if i == 0 {
			waitFor(t, 5*time.Second, "the first replica leads", r.el.IsLeader)
		}
		rs.replicas = append(rs.replicas, r)
	}
	return rs
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within %v: %s", d, what)
}

// client is a Client as name; urls[0] is its URL, the rest its URLs.
func (rs *replicaSet) client(name string, urls ...string) *Client {
	rs.t.Helper()
	cfg := DefaultClientConfig()
	cfg.URL, cfg.URLs = urls[0], urls[1:]
	cfg.TLS, cfg.Logger = ClientTLS(rs.ca.files(rs.t, name), "rack-manager"), quiet
	cfg.StallAfter, cfg.Backoff, cfg.MaxBackoff, cfg.PowerTimeout = time.Second, 20*time.Millisecond, 200*time.Millisecond, 10*time.Second
	c, err := NewClient(cfg)
	if err != nil {
		rs.t.Fatal(err)
	}
	rs.t.Cleanup(c.Close)
	return c
}

// TestReplicaFollowerAnswersNotLeader: a follower does not poll, and
// answers every request 503 not_leader with the leader's URL; a Client
// that knows only the follower gets rack.ErrNotLeader (not
// indeterminate) and nothing is powered. Identity is checked first.
func TestReplicaFollowerAnswersNotLeader(t *testing.T) {
	rs := newReplicas(t, 2)
	leader, follower := rs.replicas[0], rs.replicas[1]
	waitFor(t, 2*time.Second, "the follower knows the leader", func() bool { l, _ := follower.el.Leader(); return l == leader.url })
	time.Sleep(300 * time.Millisecond)
	if n := follower.polls.count(); n != 0 || leader.polls.count() == 0 {
		t.Errorf("reads of s1: follower %d (want 0), leader %d", n, leader.polls.count())
	}
	c := rs.client("s1", follower.url)
	for _, path := range []string{"/v1/watch?watcher=s1", "/v1/rack"} {
		req, _ := http.NewRequest(http.MethodGet, follower.url+path, nil)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var eb errorBody
		if err := json.Unmarshal(data, &eb); err != nil || resp.StatusCode != http.StatusServiceUnavailable || eb.Kind != kindNotLeader ||
			eb.Leader != leader.url || resp.Header.Get("Retry-After") == "" {
			t.Errorf("GET %s on the follower: %d %s (Retry-After %q); want 503 not_leader naming %s", path, resp.StatusCode, data, resp.Header.Get("Retry-After"), leader.url)
		}
	}
	err := c.Power(t.Context(), "s2", bmc.PowerActionOff)
	if !errors.Is(err, rack.ErrNotLeader) || errors.Is(err, bmc.ErrIndeterminate) {
		t.Errorf("power through the follower only: %v; want not leader", err)
	}
	if p := rs.bmcs["s2"].HostPower(); p != bmc.PowerOn {
		t.Errorf("s2 %v after a follower's refusal", p)
	}
	// A certificate outside the topology is refused before leadership.
	stranger := rs.client("s9", follower.url)
	if err := stranger.Power(t.Context(), "s2", bmc.PowerActionOff); !errors.Is(err, ErrForbidden) {
		t.Errorf("s9 on the follower: %v; want forbidden", err)
	}
}

// TestReplicaClientFollowsLeader: a Client given both URLs, the
// follower's first, watches and powers through the leader; when the
// leader's process dies (its server closes, its etcd session stops
// renewing), the follower leads within the TTL and the Client's stream
// moves to it and keeps delivering statuses.
func TestReplicaClientFollowsLeader(t *testing.T) {
	rs := newReplicas(t, 2)
	leader, follower := rs.replicas[0], rs.replicas[1]
	c := rs.client("s1", follower.url, leader.url)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := c.Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if st := next(t, ch, 3*time.Second); st.Server != "s2" {
		t.Fatalf("status of %q; want s2", st.Server)
	}
	if err := c.Power(t.Context(), "s2", bmc.PowerActionCycle); err != nil {
		t.Fatalf("power through the Client: %v", err)
	}

	// The leader dies: no resignation, its lease expires.
	start := time.Now()
	leader.server.Close()
	leader.etcd.Close()
	waitFor(t, 5*time.Second, "the follower leads", follower.el.IsLeader)
	failover := time.Since(start)
	// The old leader's server is closed: a status read after the
	// follower won came through the follower.
	for deadline := time.Now().Add(5 * time.Second); ; {
		st := next(t, ch, 5*time.Second)
		if st.Time.After(start.Add(failover)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no status from the new leader within 5s")
		}
	}
	t.Logf("leader killed: the follower led after %v, the stream carried its statuses after %v", failover.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// Statuses keep coming (only the new leader serves now).
	for range 5 {
		next(t, ch, time.Second)
	}
	if err := c.Power(t.Context(), "s2", bmc.PowerActionOff); err != nil {
		t.Fatalf("power after the failover: %v", err)
	}
	if p := rs.bmcs["s2"].HostPower(); p != bmc.PowerOff {
		t.Fatalf("s2 %v after the new leader's off", p)
	}
}

// TestReplicaPowerLostMidCall: the leader loses its leadership while its
// BMC carries out a power command (its key is deleted, as at the lease's
// end): the Client gets bmc.ErrIndeterminate, the audit says so, and the
// Client's stream, on the deposed leader, moves to the new one.
func TestReplicaPowerLostMidCall(t *testing.T) {
	rs := newReplicas(t, 2)
	leader, follower := rs.replicas[0], rs.replicas[1]
	c := rs.client("s1", leader.url, follower.url)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := c.Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch, 3*time.Second)
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{rs.endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	depose := func() {
		resp, err := admin.Get(context.Background(), rs.prefix+"leader/", clientv3.WithFirstCreate()...)
		if err != nil || len(resp.Kvs) == 0 || string(resp.Kvs[0].Value) != leader.url {
			t.Errorf("leader key: %v %v", resp, err)
			return
		}
		if _, err := admin.Delete(context.Background(), string(resp.Kvs[0].Key)); err != nil {
			t.Error(err)
		}
		for deadline := time.Now().Add(5 * time.Second); !follower.el.IsLeader() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	rs.hook.Store(&depose)
	err = c.Power(t.Context(), "s2", bmc.PowerActionOff)
	rs.hook.Store(nil)
	if !errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("power while the leadership moved: %v; want indeterminate", err)
	}
	if !follower.el.IsLeader() || leader.el.IsLeader() {
		t.Fatalf("after: leader %v, follower %v", leader.el.IsLeader(), follower.el.IsLeader())
	}
	if !strings.Contains(rs.audit.String(), `"outcome":"indeterminate"`) {
		t.Errorf("audit:\n%s", rs.audit)
	}
	before := follower.conns.accepted()
	moved := time.Now()
	for {
		st := next(t, ch, 3*time.Second)
		if st.Time.After(moved) && follower.conns.accepted() > before {
			break
		}
		if time.Since(moved) > 3*time.Second {
			t.Fatal("the stream did not move to the new leader")
		}
	}
	// The old leader's command had no outcome when the new leader won:
	// its first read holds s2 for InFlightHold (1 s) from then.
	start := time.Now()
	if err := c.Power(t.Context(), "s2", bmc.PowerActionOn); err != nil {
		t.Fatalf("power through the new leader: %v", err)
	}
	t.Logf("the new leader's power on s2 took %v (hold 1s from its election)", time.Since(start).Round(time.Millisecond))
}
