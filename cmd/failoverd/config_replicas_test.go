package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// replicaConfig is goodConfig as replica rm-b of two, on a plaintext etcd.
var replicaConfig = strings.NewReplacer(
	"  tls: {cert: rm.pem, key: rm-key.pem}\n", `  tls: {cert: rm.pem, key: rm-key.pem}
  replicas: [https://127.0.0.1:7443, https://127.0.0.2:7443]
  advertise_url: https://127.0.0.2:7443
  election_ttl: 3s
`,
	"image_store: {kind: file, dir: /tmp/images}\n", `image_store: {kind: file, dir: /tmp/images}
etcd: {endpoints: [http://127.0.0.1:2379], prefix: /rack-7/, insecure_plaintext: true}
`).Replace(goodConfig)

func TestReplicaConfigParses(t *testing.T) {
	cfg, err := ParseConfig("rack.yaml", []byte(replicaConfig))
	if err != nil {
		t.Fatal(err)
	}
	ttl, err := cfg.electionTTL()
	first, others := cfg.rackManagerURLs()
	if !cfg.replicated() || cfg.advertiseURL() != "https://127.0.0.2:7443" || ttl != 3*time.Second || err != nil ||
		first != "https://127.0.0.1:7443" || len(others) != 1 || others[0] != "https://127.0.0.2:7443" {
		t.Fatalf("replicated %v, advertise %q, ttl %v %v, urls %q %q", cfg.replicated(), cfg.advertiseURL(), ttl, err, first, others)
	}
}

// Each replica setting's error names the file, the line and the field.
func TestReplicaConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name, old, new, want, wantInMsg string
	}{
		{"not https", "[https://127.0.0.1:7443, https://127.0.0.2:7443]", "[https://127.0.0.1:7443, http://127.0.0.2:7443]", "rack.yaml:25: rack_manager.replicas[1]", "want https://host:port"},
		{"duplicate", "[https://127.0.0.1:7443, https://127.0.0.2:7443]", "[https://127.0.0.2:7443, https://127.0.0.2:7443/]", "rack.yaml:25: rack_manager.replicas[1]", "also rack_manager.replicas[0]"},
		{"one replica", "[https://127.0.0.1:7443, https://127.0.0.2:7443]", "[https://127.0.0.2:7443]", "rack.yaml:25: rack_manager.replicas", "two or more"},
		{"advertise not listed", "advertise_url: https://127.0.0.2:7443", "advertise_url: https://127.0.0.3:7443", "rack.yaml:26: rack_manager.advertise_url", "not one of rack_manager.replicas"},
		{"ttl fraction", "election_ttl: 3s", "election_ttl: 1500ms", "rack.yaml:27: rack_manager.election_ttl", "whole seconds"},
		{"ttl not a duration", "election_ttl: 3s", "election_ttl: soon", "rack.yaml:27: rack_manager.election_ttl", "not a duration"},
		{"no etcd", "etcd: {endpoints: [http://127.0.0.1:2379], prefix: /rack-7/, insecure_plaintext: true}\n", "", "rack.yaml:25: rack_manager.replicas", "needs the etcd section"},
		{"advertise without replicas", "  replicas: [https://127.0.0.1:7443, https://127.0.0.2:7443]\n", "", "rack.yaml:25: rack_manager.advertise_url", "replicas is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(replicaConfig, c.old) {
				t.Fatalf("test bug: %q not in the config", c.old)
			}
			_, err := ParseConfig("rack.yaml", []byte(strings.Replace(replicaConfig, c.old, c.new, 1)))
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
				t.Fatalf("%v: not a ConfigError", err)
			}
			if !strings.HasPrefix(err.Error(), c.want) || !strings.Contains(err.Error(), c.wantInMsg) {
				t.Errorf("error %q, want %q ... %q", err, c.want, c.wantInMsg)
			}
		})
	}
}

// -advertise picks this replica out of rack_manager.replicas.
func TestAdvertiseFlag(t *testing.T) {
	cfg, err := ParseConfig("rack.yaml", []byte(replicaConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.setAdvertise("https://127.0.0.1:7443/"); err != nil || cfg.advertiseURL() != "https://127.0.0.1:7443" {
		t.Fatalf("%v, advertise %q", err, cfg.advertiseURL())
	}
	if err := cfg.setAdvertise("https://10.9.9.9:7443"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "not one of rack_manager.replicas") {
		t.Fatalf("unlisted: %v", err)
	}
	single, _ := ParseConfig("rack.yaml", []byte(goodConfig))
	if err := single.setAdvertise("https://127.0.0.1:7443"); !errors.Is(err, errUsage) {
		t.Fatalf("without replicas: %v", err)
	}
}

func TestReplicaDeployExampleParses(t *testing.T) {
	cfg, err := LoadConfig("deploy/pair-replicas.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.setAdvertise("https://rm2.rack:7443"); err != nil || !cfg.replicated() {
		t.Fatalf("%v", err)
	}
}
