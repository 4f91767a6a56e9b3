package etcdstore_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/imagestore/etcdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := etcdstore.DefaultConfig()
	if err := cfg.Validate(); !errors.Is(err, etcdstore.ErrInvalidConfig) || !strings.Contains(err.Error(), "Endpoints") {
		t.Fatalf("DefaultConfig().Validate() = %v, want ErrInvalidConfig naming Endpoints (none by default)", err)
	}
	cfg.Endpoints = []string{"http://127.0.0.1:2379"}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig() with Endpoints: Validate() = %v", err)
	}
	cfg.Endpoints, cfg.Client = nil, &clientv3.Client{}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig() with Client: Validate() = %v", err)
	}
}

func TestValidateNamesField(t *testing.T) {
	withClient := func(c etcdstore.Config) etcdstore.Config {
		c.Client, c.Endpoints = &clientv3.Client{}, nil
		return c
	}
	cases := map[string]struct {
		change func(*etcdstore.Config)
		want   string
	}{
		"empty prefix":         {func(c *etcdstore.Config) { c.Prefix = "" }, "etcdstore.Config.Prefix is empty"},
		"prefix without slash": {func(c *etcdstore.Config) { c.Prefix = "/rack-1" }, `etcdstore.Config.Prefix "/rack-1"`},
		"no endpoints":         {func(c *etcdstore.Config) { c.Endpoints = nil }, "etcdstore.Config.Endpoints is empty"},
		"empty endpoint":       {func(c *etcdstore.Config) { c.Endpoints = []string{"a:1", ""} }, "etcdstore.Config.Endpoints[1] is empty"},
		"credentials in URL":   {func(c *etcdstore.Config) { c.Endpoints = []string{"http://root:hunter2-secret@10.0.0.5:2379"} }, "etcdstore.Config.Endpoints[0] carries credentials"},
		"zero request timeout": {func(c *etcdstore.Config) { c.RequestTimeout = 0 }, "etcdstore.Config.RequestTimeout 0s"},
		"zero dial timeout":    {func(c *etcdstore.Config) { c.DialTimeout = 0 }, "etcdstore.Config.DialTimeout 0s"},
		"zero reconnect delay": {func(c *etcdstore.Config) { c.ReconnectMaxDelay = 0 }, "etcdstore.Config.ReconnectMaxDelay 0s"},
		"negative keepalive":   {func(c *etcdstore.Config) { c.DialKeepAliveTime = -time.Second }, "etcdstore.Config.DialKeepAliveTime -1s"},
		"negative ka timeout":  {func(c *etcdstore.Config) { c.DialKeepAliveTimeout = -time.Second }, "etcdstore.Config.DialKeepAliveTimeout -1s"},
		"zero max value":       {func(c *etcdstore.Config) { c.MaxValueBytes = 0 }, "etcdstore.Config.MaxValueBytes 0"},
		"password alone":       {func(c *etcdstore.Config) { c.Password = "hunter2-secret" }, "etcdstore.Config.Password set without Username"},
		"client and endpoints": {func(c *etcdstore.Config) { *c = withClient(*c); c.Endpoints = []string{"x:1"} }, `etcdstore.Config.Endpoints ["x:1"] set together with Client`},
		"client and TLS":       {func(c *etcdstore.Config) { *c = withClient(*c); c.TLS = &tls.Config{} }, "etcdstore.Config.TLS set together with Client"},
		"client and password":  {func(c *etcdstore.Config) { *c = withClient(*c); c.Password = "hunter2-secret" }, "etcdstore.Config.Username or Password set together with Client"},
	}
	for name, tc := range cases {
		cfg := etcdstore.DefaultConfig()
		cfg.Endpoints = []string{"http://127.0.0.1:2379"}
		tc.change(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, etcdstore.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig saying %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: Validate() error shows the password: %v", name, err)
		}
		if _, err := etcdstore.New(cfg); !errors.Is(err, etcdstore.ErrInvalidConfig) {
			t.Errorf("%s: New() = %v, want ErrInvalidConfig", name, err)
		}
	}
}

// No fmt verb, slog handler or JSON encoding shows the password.
func TestConfigRedactsPassword(t *testing.T) {
	const pw = "s3cr3t-Passw0rd"
	cfg := etcdstore.DefaultConfig()
	cfg.Username, cfg.Password = "root", pw
	cfg.TLS = &tls.Config{ServerName: "etcd.example"}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %[1]v"} {
		out = append(out, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg), fmt.Sprintf(verb, []etcdstore.Config{cfg}))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", cfg)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "cfg", cfg)
	out = append(out, buf.String())
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("json.Marshal(Config): %v", err)
	}
	out = append(out, string(b))
	for _, s := range out {
		if strings.Contains(s, pw) || strings.Contains(s, fmt.Sprintf("%x", pw)) || strings.Contains(s, fmt.Sprintf("%X", pw)) {
			t.Fatalf("printed config shows the password: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprint(cfg), "REDACTED") || !strings.Contains(fmt.Sprint(cfg), `"root"`) {
		t.Errorf("String() = %s, want the username and REDACTED", cfg)
	}
}
