package etcdstore_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/imagestore/etcdstore"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
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
	e, endpoint, err := startEmbedded(dir, nil)
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

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopbackURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

// startEmbedded starts a one-member etcd on free loopback ports with its
// data in dir, and returns it with its client URL: https with clientTLS
// (then clients must present a certificate), else http. A port taken
// between choosing and binding costs another try.
func startEmbedded(dir string, clientTLS *transport.TLSInfo) (*embed.Etcd, string, error) {
	var lastErr error
	for range 3 {
		ports, err := freePorts(2)
		if err != nil {
			return nil, "", err
		}
		cfg := embed.NewConfig()
		cfg.Name = "test"
		cfg.Dir = dir
		client, peer := loopbackURL(ports[0]), loopbackURL(ports[1])
		if clientTLS != nil {
			client.Scheme = "https"
			cfg.ClientTLSInfo = *clientTLS
		}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			os.RemoveAll(dir)
			continue
		}
		select {
		case <-e.Server.ReadyNotify():
			return e, client.String(), nil
		case <-time.After(20 * time.Second):
			e.Server.Stop()
			e.Close()
			return nil, "", fmt.Errorf("not ready within 20s")
		}
	}
	return nil, "", lastErr
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
