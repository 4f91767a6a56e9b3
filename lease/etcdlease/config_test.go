package etcdlease_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/lease/etcdlease"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestDefaultConfig(t *testing.T) {
	cfg := etcdlease.DefaultConfig()
	if cfg.Prefix != "/rackha/failover/" || cfg.TTL != 10*time.Second || cfg.DialTimeout != 5*time.Second || cfg.RequestTimeout != 5*time.Second {
		t.Fatalf("DefaultConfig() = %v", cfg)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "Endpoints") {
		t.Fatalf("DefaultConfig without endpoints: Validate = %v, want an error naming Endpoints", err)
	}
	cfg.Endpoints = []string{"http://127.0.0.1:2379"}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig with an endpoint: %v", err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	base := etcdlease.DefaultConfig()
	base.Endpoints = []string{"http://127.0.0.1:2379"}
	client := &clientv3.Client{}
	tests := []struct {
		name, want string
		edit       func(*etcdlease.Config)
	}{
		{"empty prefix", "etcdlease.Config.Prefix is empty", func(c *etcdlease.Config) { c.Prefix = "" }},
		{"prefix without slash", `etcdlease.Config.Prefix "/x" does not end`, func(c *etcdlease.Config) { c.Prefix = "/x" }},
		{"short TTL", "etcdlease.Config.TTL 500ms is shorter than 1s", func(c *etcdlease.Config) { c.TTL = 500 * time.Millisecond }},
		{"fractional TTL", "etcdlease.Config.TTL 1.5s is not a whole number of seconds", func(c *etcdlease.Config) { c.TTL = 1500 * time.Millisecond }},
		{"request timeout", "etcdlease.Config.RequestTimeout 0s is not positive", func(c *etcdlease.Config) { c.RequestTimeout = 0 }},
		{"dial timeout", "etcdlease.Config.DialTimeout -1s is not positive", func(c *etcdlease.Config) { c.DialTimeout = -time.Second }},
		{"empty peer", "etcdlease.Config.Peers[1]", func(c *etcdlease.Config) { c.Peers = []string{"a", ""} }},
		{"peer with slash", `etcdlease.Config.Peers[0]: failover: invalid server name for the lease store: "a/b" contains "/"`, func(c *etcdlease.Config) { c.Peers = []string{"a/b"} }},
		{"duplicate peer", `etcdlease.Config.Peers[1] "a" is listed twice`, func(c *etcdlease.Config) { c.Peers = []string{"a", "a"} }},
		{"no endpoints", "etcdlease.Config.Endpoints is empty", func(c *etcdlease.Config) { c.Endpoints = nil }},
		{"empty endpoint", "etcdlease.Config.Endpoints[0] is empty", func(c *etcdlease.Config) { c.Endpoints = []string{""} }},
		{"credentials in URL", "etcdlease.Config.Endpoints[0] carries credentials", func(c *etcdlease.Config) { c.Endpoints = []string{"http://u:hunter2@h:2379"} }},
		{"password alone", "etcdlease.Config.Password set without Username", func(c *etcdlease.Config) { c.Password = "hunter2" }},
		{"client and endpoints", "etcdlease.Config.Endpoints", func(c *etcdlease.Config) { c.Client = client }},
		{"client and password", "etcdlease.Config.Username or Password set together with Client", func(c *etcdlease.Config) {
			c.Client, c.Endpoints, c.Username, c.Password = client, nil, "u", "hunter2"
		}},
	}
	for _, tc := range tests {
		cfg := base
		tc.edit(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, etcdlease.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig saying %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
		if _, nerr := etcdlease.New(cfg); !errors.Is(nerr, etcdlease.ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", tc.name, nerr)
		}
	}
}

// The password never shows: not under any fmt verb, in slog, in JSON,
// or in a Store's printed form.
func TestPasswordRedacted(t *testing.T) {
	cfg := etcdlease.DefaultConfig()
	cfg.Endpoints = []string{"http://127.0.0.1:1"}
	cfg.Username, cfg.Password = "root", "hunter2"
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out = append(out, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, &cfg))
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(b))
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", cfg)
	out = append(out, logged.String())
	cfg.DialTimeout = 100 * time.Millisecond
	if s, err := etcdlease.New(cfg); err == nil {
		out = append(out, fmt.Sprintf("%v %+v %#v", s, s, s))
		s.Close()
	} else {
		out = append(out, err.Error())
	}
	for _, o := range out {
		if strings.Contains(o, "hunter2") {
			t.Fatalf("password shown: %s", o)
		}
	}
	if !strings.Contains(out[0], "REDACTED") {
		t.Fatalf("%%v does not say the password is set: %s", out[0])
	}
}
