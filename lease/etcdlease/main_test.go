package etcdlease_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/lease/etcdlease"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// embedded is the one in-process etcd the test binary shares; each test
// keeps to a prefix of its own (newPrefix). Its least lease TTL is 2 s
// (1.5 election timeouts of 1 s, rounded up).
var embedded struct {
	endpoint string
}

func TestMain(m *testing.M) { etcdrig.Main(m, "etcdlease", &embedded.endpoint) }

// newPrefix returns a prefix no other test uses.
func newPrefix() string { return etcdrig.Prefix() }

// embeddedTTL is the least TTL the embedded etcd grants.
const embeddedTTL = 2 * time.Second

// testConfig is a Config for endpoint and prefix with short timeouts.
func testConfig(endpoint, prefix string, peers ...string) etcdlease.Config {
	cfg := etcdlease.DefaultConfig()
	cfg.Endpoints = []string{endpoint}
	cfg.Prefix = prefix
	cfg.TTL = embeddedTTL
	cfg.DialTimeout = time.Second
	cfg.RequestTimeout = time.Second
	cfg.Peers = peers
	cfg.Logger = testLogger()
	return cfg
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newStore returns a Store on cfg, closed at the test's end.
func newStore(t testing.TB, cfg etcdlease.Config) *etcdlease.Store {
	t.Helper()
	s, err := etcdlease.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// runKeeper runs k until the test ends (or stop is called) and returns
// stop, which waits for Run to return.
func runKeeper(t testing.TB, k *etcdlease.Keeper) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Keeper.Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Keeper.Run did not return within 10s of its context's end")
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitHeld(t testing.TB, k *etcdlease.Keeper, limit time.Duration) {
	t.Helper()
	select {
	case <-k.Held():
	case <-time.After(limit):
		ok, why := k.Alive()
		t.Fatalf("keeper not Held within %v (Alive %v: %s)", limit, ok, why)
	}
}

// waitUntil polls cond every 5 ms for up to limit.
func waitUntil(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within %v: %s", limit, what)
}

// watcher follows Watch's reports, watching again when the channel
// closes, as the Monitor does.
type watcher struct {
	t       testing.TB
	reports chan failover.Lease
}

func startWatcher(t testing.TB, s *etcdlease.Store, name string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{t: t, reports: make(chan failover.Lease, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			ch, err := s.Watch(ctx, name)
			if err == nil {
				for l := range ch {
					w.reports <- l
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// next waits up to limit for a report of server matching cond, and
// returns it with the time it came.
func (w *watcher) next(server string, limit time.Duration, what string, cond func(failover.Lease) bool) (failover.Lease, time.Time) {
	w.t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case l := <-w.reports:
			if l.Server == server && cond(l) {
				return l, time.Now()
			}
		case <-timeout:
			w.t.Fatalf("no report of %s within %v: %s", server, limit, what)
			return failover.Lease{}, time.Time{}
		}
	}
}

func held(l failover.Lease) bool    { return l.Held }
func notHeld(l failover.Lease) bool { return !l.Held }

// rawClient is a plain etcd client of endpoint, closed at the test's end.
func rawClient(t testing.TB, endpoint string) *clientv3.Client { return etcdrig.Client(t, endpoint) }

// value returns key's value, and whether it is there.
func value(t testing.TB, c *clientv3.Client, key string) (string, bool) {
	t.Helper()
	resp, err := c.Get(callCtx(t), key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}
