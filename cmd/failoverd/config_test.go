package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackha/failover/bmc"
)

func TestExampleConfigsValidate(t *testing.T) {
	for _, f := range []string{"deploy/pair.yaml", "deploy/ring4.yaml", "deploy/pair-etcd.yaml"} {
		cfg, err := LoadConfig(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(cfg.Servers) < 2 {
			t.Fatalf("%s: %d servers", f, len(cfg.Servers))
		}
		if _, err := cfg.topology(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// A config to break one field at a time.
const goodConfig = `topology: pairs
servers:
  - name: s1
    bmc:
      kind: ipmi
      address: 127.0.0.1:6230
      user: admin
      password_file: /run/s1-bmc
    hypervisor: {kind: libvirt, uri: "test:///default"}
    watchdog: {kind: ipmi-lan, timeout: 10s}
    tls: {cert: s1.pem, key: s1-key.pem}
  - name: s2
    bmc:
      kind: redfish
      url: https://127.0.0.1:8443
      user: admin
      password_env: S2_PW
    hypervisor: {kind: libvirt, uri: "test:///default"}
    watchdog: {kind: none}
    tls: {cert: s2.pem, key: s2-key.pem}
rack_manager:
  listen: 127.0.0.1:7443
  url: https://127.0.0.1:7443
  tls: {cert: rm.pem, key: rm-key.pem}
image_store: {kind: file, dir: /tmp/images}
tls: {ca: ca.pem}
policy:
  debounce_polls: 3
`

func TestGoodConfigParses(t *testing.T) {
	if _, err := ParseConfig("rack.yaml", []byte(goodConfig)); err != nil {
		t.Fatal(err)
	}
}

// Each error names the file, the line and the field.
func TestConfigErrorsNameFileLineField(t *testing.T) {
	cases := []struct {
		name      string
		old, new  string
		want      string // file:line: field
		wantInMsg string
		wantIs    error
	}{
		{"literal password", "      password_file: /run/s1-bmc\n", "      password: hunter2\n", "rack.yaml:8: servers[0].bmc.password", "password_file", nil},
		{"unknown field", "      user: admin\n      password_file", "      user: admin\n      colour: red\n      password_file", "rack.yaml:8: servers[0].bmc.colour", "unknown field", nil},
		{"cipher suite 0", "      user: admin\n      password_file", "      user: admin\n      cipher_suite: 0\n      password_file", "rack.yaml:8: servers[0].bmc.cipher_suite", "CipherSuite 0", bmc.ErrInsecure},
		{"bad kind", "kind: redfish", "kind: snmp", "rack.yaml:14: servers[1].bmc.kind", "want ipmi, redfish or sim", nil},
		{"plain http redfish", "url: https://127.0.0.1:8443", "url: http://127.0.0.1:8443", "rack.yaml:15: servers[1].bmc.url", "plain http", bmc.ErrInsecure},
		{"bad duration", "timeout: 10s", "timeout: ten", "rack.yaml:10: servers[0].watchdog.timeout", "not a duration", nil},
		{"policy out of range", "debounce_polls: 3", "debounce_polls: 0", "rack.yaml:28: policy.debounce_polls", "DebouncePolls 0", nil},
		{"self unknown", "topology: pairs", "topology: pairs\nself: s9", "rack.yaml:2: self", "not one of", nil},
		{"bad topology", "topology: pairs", "topology: star", "rack.yaml:1: topology", "want pairs or ring", nil},
		{"no password source", "      password_file: /run/s1-bmc\n", "", "rack.yaml:4: servers[0].bmc.password_file", "password_env", nil},
		{"duplicate server", "  - name: s2", "  - name: s1", "rack.yaml:12: servers[1].name", "also servers[0]", nil},
		{"http rack manager", "url: https://127.0.0.1:7443", "url: http://127.0.0.1:7443", "rack.yaml:23: rack_manager.url", "mutual TLS", nil},
		{"missing tls", "  tls: {cert: rm.pem, key: rm-key.pem}\n", "", "rack.yaml:21: rack_manager.tls", "needs cert and key", nil},
		{"ipmi-lan on redfish", "watchdog: {kind: none}", "watchdog: {kind: ipmi-lan}", "rack.yaml:19: servers[1].watchdog.kind", "ipmi-lan", nil},
		{"bad yaml", "topology: pairs", "topology: [pairs", "rack.yaml:", "", nil},
		{"wrong type", "      user: admin\n      password_file", "      user: admin\n      cipher_suite: strong\n      password_file", "rack.yaml:8: servers[0].bmc.cipher_suite", "cannot unmarshal", nil},
		{"unknown top-level field", "topology: pairs", "topology: pairs\nrack_mgr: {}", "rack.yaml:2: rack_mgr", "unknown field (in the top level", nil},
		{"store kind", "kind: file", "kind: s3", "rack.yaml:25: image_store.kind", "want file", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(goodConfig, c.old) {
				t.Fatalf("test bug: %q not in the config", c.old)
			}
			text := strings.Replace(goodConfig, c.old, c.new, 1)
			_, err := ParseConfig("rack.yaml", []byte(text))
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
				t.Fatalf("%v: not a ConfigError", err)
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("error %q, want it to start with %q", err, c.want)
			}
			if !strings.Contains(err.Error(), c.wantInMsg) {
				t.Errorf("error %q, want it to say %q", err, c.wantInMsg)
			}
			if c.wantIs != nil && !errors.Is(err, c.wantIs) {
				t.Errorf("error %q does not wrap %v", err, c.wantIs)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestSecretFromFileAndEnv(t *testing.T) {
	cfg, err := ParseConfig("rack.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.readSecret("servers[0].bmc", pw, ""); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable password file: %v", err)
	}
	os.Chmod(pw, 0o600)
	got, err := cfg.readSecret("servers[0].bmc", pw, "")
	if err != nil || got != "s3cret" {
		t.Fatalf("file: %q %v", got, err)
	}
	t.Setenv("S2_PW", "")
	if _, err := cfg.readSecret("servers[1].bmc", "", "S2_PW"); err == nil || !strings.HasPrefix(err.Error(), "rack.yaml:17: servers[1].bmc.password_env") {
		t.Fatalf("unset env: %v", err)
	}
	t.Setenv("S2_PW", "pw2")
	if got, err := cfg.readSecret("servers[1].bmc", "", "S2_PW"); err != nil || got != "pw2" {
		t.Fatalf("env: %q %v", got, err)
	}
}
