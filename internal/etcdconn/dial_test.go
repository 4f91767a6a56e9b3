package etcdconn_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/internal/etcdconn"
	"github.com/rackha/failover/internal/etcdrig"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Dial reaches a real etcd; with auth on, it logs in with the right
// password and reports a wrong one without showing it.
func TestDial(t *testing.T) {
	e, endpoint, err := etcdrig.StartEmbedded(t.TempDir(), nil)
	if err != nil {
		t.Fatalf("embedded etcd: %v", err)
	}
	t.Cleanup(e.Close) // registered first: runs after the clients' Close
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c := valid()
	c.Endpoints, c.DialTimeout = []string{endpoint}, 2*time.Second
	cli := dial(t, c)
	if _, err := cli.Put(ctx, "/etcdconn/k", "v"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	const pw, wrong = "Right-Passw0rd-etcdconn", "Wrong-Passw0rd-etcdconn"
	etcdrig.EnableAuth(t, cli, pw)

	c.Username, c.Password = "root", wrong
	bad, err := c.Dial()
	if err == nil {
		bad.Close()
		t.Fatal("Dial with a wrong password succeeded")
	}
	t.Logf("wrong password: %v", err)
	if !strings.Contains(err.Error(), `connect to ["`+endpoint+`"] as "root"`) || strings.Contains(err.Error(), wrong) {
		t.Fatalf("Dial with a wrong password: %v, want an error naming endpoint and user, not the password", err)
	}
	c.Password = pw
	authed := dial(t, c)
	got, err := authed.Get(ctx, "/etcdconn/k")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v" {
		t.Fatalf("Get as root = %v, %v; want the value put before", got, err)
	}
}

func TestDialRefuses(t *testing.T) {
	withClient := etcdconn.Config{Client: &clientv3.Client{}}
	if cli, err := withClient.Dial(); !errors.Is(err, etcdconn.ErrClientSet) || cli != nil {
		t.Errorf("Dial with Client set = %v, %v; want ErrClientSet", cli, err)
	}
	noEndpoints := valid()
	noEndpoints.Endpoints = nil
	if cli, err := noEndpoints.Dial(); err == nil || !strings.Contains(err.Error(), "etcdconn.Config.Endpoints is empty") {
		t.Errorf("Dial without endpoints = %v, %v; want an error naming etcdconn.Config.Endpoints", cli, err)
	}
}

// dial returns a client as c says, closed at the test's end.
func dial(t *testing.T, c etcdconn.Config) *clientv3.Client {
	t.Helper()
	cli, err := c.Dial()
	if err != nil {
		t.Fatalf("Dial(%v): %v", c, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
