package etcdconn

import (
	"crypto/tls"
	"testing"
	"time"
)

// The client gets c's fields (the endpoints copied), no logger output and
// the reconnect pacing the drivers always had.
func TestClientConfig(t *testing.T) {
	tc := &tls.Config{ServerName: "etcd.example"}
	c := Config{
		Endpoints: []string{"https://a:2379", "https://b:2379"}, TLS: tc, Username: "root", Password: "hunter2",
		DialTimeout: 3 * time.Second, ReconnectMaxDelay: 2 * time.Second,
		DialKeepAliveTime: 10 * time.Second, DialKeepAliveTimeout: 4 * time.Second,
	}
	cc := c.clientConfig()
	c.Endpoints[0] = "changed"
	switch {
	case len(cc.Endpoints) != 2 || cc.Endpoints[0] != "https://a:2379" || cc.Endpoints[1] != "https://b:2379":
		t.Errorf("Endpoints = %q, want a copy of the Config's", cc.Endpoints)
	case cc.TLS != tc:
		t.Errorf("TLS is not the Config's *tls.Config")
	case cc.Username != "root" || cc.Password != "hunter2":
		t.Errorf("Username %q, password set %v: want the Config's", cc.Username, cc.Password == "hunter2")
	case cc.DialTimeout != 3*time.Second || cc.DialKeepAliveTime != 10*time.Second || cc.DialKeepAliveTimeout != 4*time.Second:
		t.Errorf("DialTimeout %v, DialKeepAliveTime %v, DialKeepAliveTimeout %v: want 3s, 10s, 4s", cc.DialTimeout, cc.DialKeepAliveTime, cc.DialKeepAliveTimeout)
	case cc.Logger == nil:
		t.Errorf("Logger is nil: the client would build its own and log")
	case len(cc.DialOptions) != 1:
		t.Errorf("%d dial options, want 1 (the connect parameters)", len(cc.DialOptions))
	}
	p := c.connectParams()
	if b := p.Backoff; b.BaseDelay != 100*time.Millisecond || b.Multiplier != 1.6 || b.Jitter != 0.2 || b.MaxDelay != 2*time.Second {
		t.Errorf("backoff = %+v, want 100ms growing by 1.6 (jitter 0.2) to ReconnectMaxDelay 2s", b)
	}
	if p.MinConnectTimeout != 3*time.Second {
		t.Errorf("MinConnectTimeout = %v, want DialTimeout 3s", p.MinConnectTimeout)
	}
}
