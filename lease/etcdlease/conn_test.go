package etcdlease

import (
	"crypto/tls"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// conn carries every client field of Config, and the settings Config does
// not offer: reconnect attempts at most 1 s apart, a ping after 10 s idle,
// a connection dead after DialTimeout without an answer.
func TestConnKeepsEveryField(t *testing.T) {
	cli, tc := &clientv3.Client{}, &tls.Config{ServerName: "etcd.example"}
	cfg := Config{Client: cli, Endpoints: []string{"http://a:2379"}, TLS: tc, Username: "root", Password: "pw", DialTimeout: 3 * time.Second}
	c := cfg.conn()
	switch {
	case c.Client != cli || len(c.Endpoints) != 1 || c.Endpoints[0] != "http://a:2379" || c.TLS != tc:
		t.Errorf("conn() = %v, want Client, Endpoints and TLS of %v", c, cfg)
	case c.Username != "root" || c.Password != "pw" || c.DialTimeout != 3*time.Second:
		t.Errorf("conn() = %v, want Username, Password and DialTimeout of %v", c, cfg)
	case c.ReconnectMaxDelay != time.Second || c.DialKeepAliveTime != 10*time.Second || c.DialKeepAliveTimeout != 3*time.Second:
		t.Errorf("conn() = %v, want ReconnectMaxDelay 1s, DialKeepAliveTime 10s, DialKeepAliveTimeout = DialTimeout 3s", c)
	}
}
