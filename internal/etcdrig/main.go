package etcdrig

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Main runs a test binary's tests against one embedded etcd it shares,
// whose client URL it stores in *endpoint first, and exits with their
// code. Call it from TestMain; name tells its temp dir apart.
func Main(m *testing.M, name string, endpoint *string) {
	dir, err := os.MkdirTemp("", name+"-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e, url, err := StartEmbedded(dir, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "embedded etcd: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	*endpoint = url
	code := m.Run()
	e.Close() // every test closed its clients in its cleanup
	os.RemoveAll(dir)
	os.Exit(code)
}

var prefixes atomic.Int64

// Prefix returns a key prefix no other test of the binary uses, so tests
// share one etcd without seeing each other's keys.
func Prefix() string { return fmt.Sprintf("/test/%d/", prefixes.Add(1)) }

// Client returns a plain client of endpoint, closed at the test's end.
func Client(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("client of %s: %v", endpoint, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
