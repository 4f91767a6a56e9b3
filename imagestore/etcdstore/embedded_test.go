package etcdstore_test

import (
	"context"
	"fmt"
	"github.com/rackha/failover/internal/etcdrig"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/imagestore/etcdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// embedded is the one in-process etcd the test binary shares; each test
// keeps to prefixes of its own (newPrefix).
var embedded struct {
	endpoint string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etcdstore-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e, endpoint, err := etcdrig.StartEmbedded(dir, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "embedded etcd: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	embedded.endpoint = endpoint
	code := m.Run()
	e.Close() // every test closed its clients in its cleanup
	os.RemoveAll(dir)
	os.Exit(code)
}

var prefixes atomic.Int64

// newPrefix returns a prefix no other test uses.
func newPrefix() string { return fmt.Sprintf("/test/%d/", prefixes.Add(1)) }

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

// newClient returns a plain client of endpoint, closed at the test's end.
func newClient(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("client of %s: %v", endpoint, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func callCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}
