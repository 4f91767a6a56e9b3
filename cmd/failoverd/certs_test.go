package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCertsBootstrap(t *testing.T) {
	dir := t.TempDir()
	set, err := makeCerts(dir, []string{"s1", "s2"}, "ops", []string{"rm.rack", "10.0.0.5"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(set.CA())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, name := range []string{"s1", "s2", "ops", rackManagerName} {
		st, err := os.Stat(set.Key(name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s key mode %v, want 0600", name, st.Mode().Perm())
		}
		pair, err := tls.LoadX509KeyPair(set.Cert(name), set.Key(name))
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(leaf.DNSNames) == 0 || leaf.DNSNames[0] != name {
			t.Errorf("%s: DNS SANs %v, want %s first", name, leaf.DNSNames, name)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if name == rackManagerName {
			for _, host := range []string{"localhost", "127.0.0.1", "rm.rack", "10.0.0.5"} {
				if err := leaf.VerifyHostname(host); err != nil {
					t.Errorf("rack manager certificate: %v", err)
				}
			}
		} else if err := leaf.VerifyHostname("127.0.0.1"); err == nil {
			t.Errorf("%s's certificate names 127.0.0.1", name)
		}
	}
	st, _ := os.Stat(set.CAKey())
	if st.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode %v", st.Mode().Perm())
	}
	// Never overwrites.
	if _, err := makeCerts(dir, []string{"s1"}, "", nil, time.Now()); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("second run: %v", err)
	}
	if _, err := makeCerts(t.TempDir(), []string{"s1", "s1"}, "", nil, time.Now()); err == nil {
		t.Error("a name twice accepted")
	}
	if _, err := makeCerts(t.TempDir(), []string{"bad name"}, "", nil, time.Now()); err == nil {
		t.Error("a name with a space accepted")
	}
}

func TestCertsCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	var out, errb bytes.Buffer
	if code := run([]string{"certs", "-dir", dir, "-servers", "s1, s2", "-operator", "ops"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "not a PKI") {
		t.Errorf("output does not say it is a bootstrap: %q", out.String())
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "rack-manager.pem", "rack-manager-key.pem", "s1.pem", "s1-key.pem", "s2.pem", "s2-key.pem", "ops.pem", "ops-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if code := run([]string{"certs", "-dir", dir}, &out, &errb); code != 2 {
		t.Errorf("without -servers: exit %d, want 2", code)
	}
}
