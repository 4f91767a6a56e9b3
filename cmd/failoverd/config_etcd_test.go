package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"

	"github.com/rackha/failover/imagestore/imagestoretest"
	"github.com/rackha/failover/internal/etcdrig"
)

// etcdConfig is goodConfig with an etcd section, the etcd image store
// and leases (s2 gets a watchdog: leases want one on every server).
var etcdConfig = strings.NewReplacer(
	"image_store: {kind: file, dir: /tmp/images}\n", `image_store: {kind: etcd}
etcd:
  endpoints: [https://10.0.0.5:2379, https://10.0.0.6:2379]
  prefix: /rackha/rack-7/
  dial_timeout: 3s
  request_timeout: 4s
  tls: {cert: s1-etcd.pem, key: s1-etcd-key.pem}
  username: failoverd
  password_file: /run/etcd-pw
lease:
  enabled: true
  ttl: 6s
  drift_margin: 6s
`,
	"watchdog: {kind: none}", "watchdog: {kind: ipmi-lan, timeout: 10s}",
	"      kind: redfish\n      url: https://127.0.0.1:8443\n", "      kind: ipmi\n      address: 127.0.0.1:6231\n",
).Replace(goodConfig)

func TestEtcdConfigParses(t *testing.T) {
	cfg, err := ParseConfig("rack.yaml", []byte(etcdConfig))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cfg.etcdSpec(func(_, _, _ string) (string, error) { return "hunter2", nil }, cfg.Servers[0].TLS)
	if err != nil {
		t.Fatal(err)
	}
	want := etcdSpec{Endpoints: []string{"https://10.0.0.5:2379", "https://10.0.0.6:2379"}, Prefix: "/rackha/rack-7/", DialTimeout: 3 * time.Second,
		RequestTimeout: 4 * time.Second, CA: "ca.pem", Cert: "s1-etcd.pem", Key: "s1-etcd-key.pem", Username: "failoverd", Password: "hunter2"}
	if fmt.Sprint(s.Endpoints) != fmt.Sprint(want.Endpoints) || s.Prefix != want.Prefix || s.DialTimeout != want.DialTimeout || s.RequestTimeout != want.RequestTimeout ||
		s.CA != want.CA || s.Cert != want.Cert || s.Key != want.Key || s.Username != want.Username || s.Password != want.Password || s.Plaintext {
		t.Errorf("spec %+v, want %+v", s, want)
	}
	for _, shown := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v %s", s, s)} {
		if strings.Contains(shown, "hunter2") {
			t.Errorf("the spec printed shows the password: %s", shown)
		}
	}
	l, err := cfg.leaseSpec()
	if err != nil || !l.Enabled || l.TTL != 6*time.Second || l.DriftMargin != 6*time.Second {
		t.Fatalf("lease spec %+v %v", l, err)
	}
	w, _ := cfg.watchdogSpec(0, placeholderSecret)
	if b := l.bound(w); b != 22*time.Second {
		t.Errorf("bound %v, want 6s + 10s + 6s", b)
	}
}

// The drift margin left out is the library's default or the least the
// bound needs, whichever is longer.
func TestLeaseDriftMarginDefault(t *testing.T) {
	for _, c := range []struct {
		watchdog string
		want     time.Duration
	}{
		{"timeout: 10s", 5 * time.Second},                                     // kick call 10s/3/2 = 1.67s + 16ms: the default 5s
		{"timeout: 60s, interval: 20s", 10*time.Second + 66*time.Millisecond}, // 10s + (6s+60s)/1000
	} {
		text := strings.Replace(etcdConfig, "  drift_margin: 6s\n", "", 1)
		text = strings.ReplaceAll(text, "watchdog: {kind: ipmi-lan, timeout: 10s}", "watchdog: {kind: ipmi-lan, "+c.watchdog+"}")
		cfg, err := ParseConfig("rack.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		l, err := cfg.leaseSpec()
		if err != nil || l.DriftMargin != c.want {
			t.Errorf("watchdog %s: margin %v (%v), want %v", c.watchdog, l.DriftMargin, err, c.want)
		}
	}
}

// Each new field's errors name the file, the line and the field.
func TestEtcdConfigErrors(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		want     string // file:line: field
		inMsg    string
	}{
		{"no endpoints", "  endpoints: [https://10.0.0.5:2379, https://10.0.0.6:2379]\n", "", "rack.yaml:26: etcd.endpoints", "is empty"},
		{"http refused", "[https://10.0.0.5:2379,", "[http://10.0.0.5:2379,", "rack.yaml:27: etcd.endpoints[0]", "insecure_plaintext"},
		{"no scheme", "[https://10.0.0.5:2379,", "[10.0.0.5:2379,", "rack.yaml:27: etcd.endpoints[0]", "want https://host:port"},
		{"no port", "https://10.0.0.6:2379]", "https://10.0.0.6]", "rack.yaml:27: etcd.endpoints[1]", "want https://host:port"},
		{"credentials in url", "[https://10.0.0.5:2379,", "[https://root:hunter2@10.0.0.5:2379,", "rack.yaml:27: etcd.endpoints[0]", "credentials in its URL"},
		{"plaintext with https", "  prefix: /rackha", "  insecure_plaintext: true\n  prefix: /rackha", "rack.yaml:28: etcd.insecure_plaintext", "is https"},
		{"plaintext with tls", "[https://10.0.0.5:2379, https://10.0.0.6:2379]", "[http://10.0.0.5:2379]\n  insecure_plaintext: true", "rack.yaml:32: etcd.tls", "insecure_plaintext is true"},
		{"plaintext with password", "[https://10.0.0.5:2379, https://10.0.0.6:2379]\n  prefix: /rackha/rack-7/\n  dial_timeout: 3s\n  request_timeout: 4s\n  tls: {cert: s1-etcd.pem, key: s1-etcd-key.pem}\n",
			"[http://10.0.0.5:2379]\n  insecure_plaintext: true\n  prefix: /rackha/rack-7/\n", "rack.yaml:30: etcd.username", "in clear"},
		{"no prefix", "  prefix: /rackha/rack-7/\n", "", "rack.yaml:26: etcd.prefix", "is empty"},
		{"prefix without slash", "prefix: /rackha/rack-7/", "prefix: /rackha/rack-7", "rack.yaml:28: etcd.prefix", "ends with"},
		{"bad dial timeout", "dial_timeout: 3s", "dial_timeout: soon", "rack.yaml:29: etcd.dial_timeout", "not a duration"},
		{"negative request timeout", "request_timeout: 4s", "request_timeout: -4s", "rack.yaml:30: etcd.request_timeout", "positive"},
		{"cert without key", "tls: {cert: s1-etcd.pem, key: s1-etcd-key.pem}", "tls: {cert: s1-etcd.pem}", "rack.yaml:31: etcd.tls", "both cert and key"},
		{"literal password", "  password_file: /run/etcd-pw\n", "  password: hunter2\n", "rack.yaml:33: etcd.password", "not allowed"},
		{"user without password", "  password_file: /run/etcd-pw\n", "", "rack.yaml:26: etcd.password_file", "is empty"},
		{"password without user", "  username: failoverd\n", "", "rack.yaml:26: etcd.username", "password is set"},
		{"unknown etcd field", "  prefix: /rackha", "  colour: red\n  prefix: /rackha", "rack.yaml:28: etcd.colour", "unknown field (in etcd"},
		{"store etcd without etcd", "  endpoints: [https://10.0.0.5:2379, https://10.0.0.6:2379]\n  prefix: /rackha/rack-7/\n  dial_timeout: 3s\n  request_timeout: 4s\n  tls: {cert: s1-etcd.pem, key: s1-etcd-key.pem}\n  username: failoverd\n  password_file: /run/etcd-pw\n",
			"  {}\n", "rack.yaml:25: image_store.kind", "needs the etcd section"},
		{"store etcd with dir", "image_store: {kind: etcd}", "image_store: {kind: etcd, dir: /tmp}", "rack.yaml:25: image_store.dir", "kind is etcd"},
		{"store kind", "image_store: {kind: etcd}", "image_store: {kind: s3}", "rack.yaml:25: image_store.kind", "want file or etcd"},
		{"ttl fraction", "ttl: 6s", "ttl: 2500ms", "rack.yaml:36: lease.ttl", "whole seconds"},
		{"ttl short", "ttl: 6s", "ttl: 1s", "rack.yaml:36: lease.ttl", "at least 2s"},
		{"ttl bad", "ttl: 6s", "ttl: long", "rack.yaml:36: lease.ttl", "not a duration"},
		{"margin short", "drift_margin: 6s", "drift_margin: 1s", "rack.yaml:37: lease.drift_margin", "kick call timeout"},
		{"margin zero", "drift_margin: 6s", "drift_margin: 0s", "rack.yaml:37: lease.drift_margin", "positive"},
		{"no watchdog", "watchdog: {kind: ipmi-lan, timeout: 10s}\n    tls: {cert: s2.pem", "watchdog: {kind: none}\n    tls: {cert: s2.pem", "rack.yaml:19: servers[1].watchdog.kind", "needs a watchdog"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(etcdConfig, c.old) {
				t.Fatalf("test bug: %q not in the config", c.old)
			}
			_, err := ParseConfig("rack.yaml", []byte(strings.Replace(etcdConfig, c.old, c.new, 1)))
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
				t.Fatalf("%v: not a ConfigError", err)
			}
			if !strings.HasPrefix(err.Error(), c.want) || !strings.Contains(err.Error(), c.inMsg) {
				t.Errorf("error %q, want it to start with %q and say %q", err, c.want, c.inMsg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	t.Run("lease without etcd", func(t *testing.T) {
		text := strings.Replace(goodConfig, "policy:", "lease: {enabled: true}\npolicy:", 1)
		_, err := ParseConfig("rack.yaml", []byte(text))
		if err == nil || !strings.HasPrefix(err.Error(), "rack.yaml:27: lease.enabled") || !strings.Contains(err.Error(), "needs the etcd section") {
			t.Errorf("got %v", err)
		}
	})
}

// The client the etcd section builds speaks mutual TLS to a real etcd
// (embedded, client certificates required), and stores images there.
func TestEtcdClientMutualTLS(t *testing.T) {
	dir := t.TempDir()
	certs, err := makeCerts(filepath.Join(dir, "tls"), []string{"s1", "s2"}, "ops", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e, endpoint, err := etcdrig.StartEmbedded(filepath.Join(dir, "etcd"), &transport.TLSInfo{
		CertFile: certs.Cert(rackManagerName), KeyFile: certs.Key(rackManagerName), TrustedCAFile: certs.CA(), ClientCertAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// No etcd.tls: the monitor presents its own certificate.
	text := strings.NewReplacer("https://10.0.0.5:2379, https://10.0.0.6:2379", endpoint,
		"  tls: {cert: s1-etcd.pem, key: s1-etcd-key.pem}\n", "",
		"  username: failoverd\n  password_file: /run/etcd-pw\n", "", "tls: {ca: ca.pem}", fmt.Sprintf("tls: {ca: %q}", certs.CA())).Replace(etcdConfig)
	cfg, err := ParseConfig("rack.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cfg: cfg}
	a := &adapters{cfg: cfg}
	defer a.Close()
	cli, _, err := d.etcdClient(a, certs.Pair("s1"))
	if err != nil {
		t.Fatal(err)
	}
	if again, _, _ := d.etcdClient(a, certs.Pair("s1")); again != cli {
		t.Error("a second call dialled another client")
	}
	if len(d.certs) != 1 {
		t.Errorf("%d certificate sets kept for SIGHUP, want 1", len(d.certs))
	}
	store, err := d.imageStore(a, certs.Pair("s1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := store.Put(ctx, imagestoretest.Sample("vm1")); err != nil {
		t.Fatal(err)
	}
	got, err := cli.Get(ctx, "/rackha/rack-7/images/vm1")
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("the image is not under the prefix: %v %v", got, err)
	}

	// etcd.tls names a pair every process presents instead: a key file
	// missing is an error at etcd.tls.
	noKey := strings.Replace(text, "  prefix:", fmt.Sprintf("  tls: {cert: %q, key: %q}\n  prefix:", certs.Cert("ops"), filepath.Join(dir, "missing-key.pem")), 1)
	cfg2, err := ParseConfig("rack.yaml", []byte(noKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := (&daemon{cfg: cfg2}).etcdClient(&adapters{cfg: cfg2}, certs.Pair("s1")); err == nil || !strings.Contains(err.Error(), "etcd.tls") {
		t.Errorf("a missing key file: %v, want an error at etcd.tls", err)
	}

	// A certificate of another CA is refused by etcd: the connection
	// fails and no request succeeds.
	other, err := makeCerts(filepath.Join(dir, "other"), []string{"s1"}, "ops", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign := strings.Replace(text, "  prefix:", fmt.Sprintf("  tls: {ca: %q}\n  prefix:", other.CA()), 1)
	cfg4, err := ParseConfig("rack.yaml", []byte(foreign))
	if err != nil {
		t.Fatal(err)
	}
	a4 := &adapters{cfg: cfg4}
	defer a4.Close()
	cli4, _, err := (&daemon{cfg: cfg4}).etcdClient(a4, other.Pair("s1"))
	if err != nil {
		t.Fatal(err)
	}
	short, cancel4 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel4()
	if _, err := cli4.Get(short, "/rackha/rack-7/images/vm1"); err == nil {
		t.Error("a client of another CA read from etcd")
	}
}

// insecure_plaintext reaches an http etcd; the password is read from its
// file only when a user is set, and never shown.
func TestEtcdClientPlaintext(t *testing.T) {
	dir := t.TempDir()
	e, endpoint, err := etcdrig.StartEmbedded(filepath.Join(dir, "etcd"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	text := strings.NewReplacer("[https://10.0.0.5:2379, https://10.0.0.6:2379]", "["+endpoint+"]\n  insecure_plaintext: true",
		"  tls: {cert: s1-etcd.pem, key: s1-etcd-key.pem}\n", "", "  username: failoverd\n  password_file: /run/etcd-pw\n", "").Replace(etcdConfig)
	cfg, err := ParseConfig("rack.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	a := &adapters{cfg: cfg}
	defer a.Close()
	cli, _, err := (&daemon{cfg: cfg}).etcdClient(a, cfg.Servers[0].TLS)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/rackha/rack-7/probe", "x"); err != nil {
		t.Fatal(err)
	}

	// A user over TLS: the password file is read, and a wrong mode is
	// refused naming the field, without the password.
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("hunter2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg3, err := ParseConfig("rack.yaml", []byte(strings.Replace(etcdConfig, "/run/etcd-pw", pw, 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg3.etcdSpec(cfg3.readSecret, cfg3.Servers[0].TLS)
	if err == nil || !strings.HasPrefix(err.Error(), "rack.yaml:33: etcd.password_file") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("world-readable etcd password file: %v", err)
	}
	os.Chmod(pw, 0o600)
	if s, err := cfg3.etcdSpec(cfg3.readSecret, cfg3.Servers[0].TLS); err != nil || s.Password != "hunter2" {
		t.Errorf("password file: %v", err)
	}
}

// The deploy example with etcd and leases: 10s + 30s + 6s.
func TestExampleEtcdConfigLease(t *testing.T) {
	cfg, err := LoadConfig("deploy/pair-etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l, err := cfg.leaseSpec()
	if err != nil || !l.Enabled {
		t.Fatalf("lease %+v %v", l, err)
	}
	w, err := cfg.watchdogSpec(0, placeholderSecret)
	if err != nil {
		t.Fatal(err)
	}
	if b := l.bound(w); b != 46*time.Second {
		t.Errorf("bound %v, want 46s as the file says", b)
	}
	if cfg.ImageStore.Kind != "etcd" {
		t.Errorf("image store %q", cfg.ImageStore.Kind)
	}
}
