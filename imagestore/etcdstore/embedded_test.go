package etcdstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/rackha/failover/imagestore/etcdstore"
	"github.com/rackha/failover/internal/etcdrig"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// embedded is the one in-process etcd the test binary shares; each test
// keeps to prefixes of its own (newPrefix).
var embedded struct {
	endpoint string
}

func TestMain(m *testing.M) { etcdrig.Main(m, "etcdstore", &embedded.endpoint) }

// newPrefix returns a prefix no other test uses.
func newPrefix() string { return etcdrig.Prefix() }

// testConfig is a Config for endpoint and prefix with short timeouts.
func testConfig(endpoint, prefix string) etcdstore.Config {
	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints = []string{endpoint}
	cfg.Prefix = prefix
	cfg.DialTimeout = 2 * time.Second
	cfg.RequestTimeout = 3 * time.Second
	return cfg
}

// newStore returns a Store on cfg, closed at the test's end.
func newStore(t testing.TB, cfg etcdstore.Config) *etcdstore.Store {
	t.Helper()
	s, err := etcdstore.New(cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newClient is a plain etcd client of endpoint, closed at the test's end.
func newClient(t testing.TB, endpoint string) *clientv3.Client { return etcdrig.Client(t, endpoint) }

func callCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}
