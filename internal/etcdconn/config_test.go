package etcdconn_test

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/internal/etcdconn"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// valid is a Config that passes Validate, dialling one endpoint.
func valid() etcdconn.Config {
	return etcdconn.Config{
		Endpoints:            []string{"http://127.0.0.1:2379"},
		DialTimeout:          5 * time.Second,
		ReconnectMaxDelay:    2 * time.Second,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
	}
}

func TestValidAccepted(t *testing.T) {
	withAuth := valid()
	withAuth.Username, withAuth.Password, withAuth.TLS = "root", "hunter2", &tls.Config{}
	noKeepAlive := valid()
	noKeepAlive.DialKeepAliveTime, noKeepAlive.DialKeepAliveTimeout = 0, 0
	// With Client set, the durations are ignored.
	clientOnly := etcdconn.Config{Client: &clientv3.Client{}}
	for name, c := range map[string]etcdconn.Config{"endpoints": valid(), "auth and TLS": withAuth, "zero keep-alive": noKeepAlive, "client": clientOnly} {
		if err := c.Validate("x.Config"); err != nil {
			t.Errorf("%s: Validate = %v, want nil", name, err)
		}
	}
}

// Every refusal names the field under the caller's name, and its value
// unless that is a secret.
func TestValidateNamesField(t *testing.T) {
	withClient := func(c *etcdconn.Config) { c.Client, c.Endpoints = &clientv3.Client{}, nil }
	tests := []struct {
		name, want string
		edit       func(*etcdconn.Config)
	}{
		{"no endpoints", "drv.Config.Endpoints is empty and Client is nil", func(c *etcdconn.Config) { c.Endpoints = nil }},
		{"empty endpoint", "drv.Config.Endpoints[1] is empty", func(c *etcdconn.Config) { c.Endpoints = []string{"a:1", ""} }},
		{"credentials in URL", "drv.Config.Endpoints[0] carries credentials in its URL", func(c *etcdconn.Config) {
			c.Endpoints = []string{"https://root:hunter2@10.0.0.5:2379"}
		}},
		{"password alone", "drv.Config.Password set without Username", func(c *etcdconn.Config) { c.Password = "hunter2" }},
		{"zero dial timeout", "drv.Config.DialTimeout 0s is not positive", func(c *etcdconn.Config) { c.DialTimeout = 0 }},
		{"zero reconnect delay", "drv.Config.ReconnectMaxDelay 0s is not positive", func(c *etcdconn.Config) { c.ReconnectMaxDelay = 0 }},
		{"negative keep-alive", "drv.Config.DialKeepAliveTime -1s is negative", func(c *etcdconn.Config) { c.DialKeepAliveTime = -time.Second }},
		{"negative keep-alive timeout", "drv.Config.DialKeepAliveTimeout -2s is negative", func(c *etcdconn.Config) { c.DialKeepAliveTimeout = -2 * time.Second }},
		{"client and endpoints", `drv.Config.Endpoints ["x:1"] set together with Client`, func(c *etcdconn.Config) { withClient(c); c.Endpoints = []string{"x:1"} }},
		{"client and TLS", "drv.Config.TLS set together with Client", func(c *etcdconn.Config) { withClient(c); c.TLS = &tls.Config{} }},
		{"client and username", "drv.Config.Username or Password set together with Client", func(c *etcdconn.Config) { withClient(c); c.Username = "root" }},
		{"client and password", "drv.Config.Username or Password set together with Client", func(c *etcdconn.Config) { withClient(c); c.Password = "hunter2" }},
	}
	for _, tc := range tests {
		c := valid()
		tc.edit(&c)
		err := c.Validate("drv.Config")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error saying %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
	}
}
