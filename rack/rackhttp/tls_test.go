package rackhttp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/rackha/failover/bmc"
)

// TestWrongServerCertificate: a certificate from the rack's CA that
// names another server cannot act as s1, and one naming a server that
// is not in the topology is refused outright.
func TestWrongServerCertificate(t *testing.T) {
	r := newTestRack(t, rackOpts{servers: []string{"s1", "s2", "s3", "s4"}})
	// s3 (which watches s4) claims to be s1, the watcher of s2.
	s3 := r.client("s3")
	if _, err := s3.Watch(t.Context(), "s1"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("s3 watching as s1: %v, want ErrForbidden", err)
	}
	if err := s3.Power(t.Context(), "s2", bmc.PowerActionOff); !errors.Is(err, ErrForbidden) {
		t.Fatalf("s3 fencing s2: %v, want ErrForbidden", err)
	}
	intruder := r.client("intruder")
	_, err := intruder.Rack(t.Context())
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "intruder") {
		t.Fatalf("a name outside the topology: %v, want ErrForbidden naming it", err)
	}
	if p := r.bmcs["s2"].HostPower(); p != bmc.PowerOn {
		t.Fatalf("s2's power %v", p)
	}
}

// staticSource is a CertSource with a fixed certificate and pool.
type staticSource struct {
	cert *tls.Certificate
	pool *x509.CertPool
}

func (s staticSource) Certificate() (*tls.Certificate, error) { return s.cert, nil }
func (s staticSource) Pool() *x509.CertPool                   { return s.pool }

// refusedAtHandshake checks that a request with src's certificate is
// refused by the handshake: a plain error, never indeterminate, and
// nothing powered.
func refusedAtHandshake(t *testing.T, r *testRack, src CertSource) {
	t.Helper()
	c := r.clientWith(src)
	err := c.Power(t.Context(), "s2", bmc.PowerActionOff)
	t.Logf("refused: %v", err)
	if err == nil || errors.Is(err, bmc.ErrIndeterminate) || !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("power: %v, want a plain ErrUnauthenticated", err)
	}
	if _, err := c.Rack(t.Context()); err == nil {
		t.Fatal("rack view succeeded")
	}
	if _, err := c.Watch(t.Context(), "s1"); err == nil {
		t.Fatal("watch succeeded")
	}
	if p := r.bmcs["s2"].HostPower(); p != bmc.PowerOn {
		t.Fatalf("s2's power %v", p)
	}
}

// TestClientFromOtherCA: a client certificate of another CA fails the
// handshake, even naming a server of the topology.
func TestClientFromOtherCA(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	other := newCA(t, "other CA")
	cert, key, _ := other.issue(t, "s1")
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	refusedAtHandshake(t, r, staticSource{cert: &pair, pool: r.ca.files(t, "x").Pool()})
	// LoadFiles itself refuses a pair its CA file does not verify.
	_, _, rackCA := r.ca.issue(t, "unused")
	if _, err := LoadFiles(cert, key, rackCA); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("LoadFiles of another CA's pair: %v", err)
	}
}

// TestNoClientCertificate: without a client certificate the handshake
// fails.
func TestNoClientCertificate(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	refusedAtHandshake(t, r, staticSource{cert: &tls.Certificate{}, pool: r.ca.files(t, "x").Pool()})
}

// TestServerNameVerified: the client refuses a rack manager whose
// certificate does not name the expected server, even from the right CA.
func TestServerNameVerified(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	c := r.clientWith(r.ca.files(t, "s1"), func(cc *ClientConfig) {
		cc.TLS = ClientTLS(r.ca.files(t, "s1"), "other-rack-manager")
	})
	err := c.Power(t.Context(), "s2", bmc.PowerActionOff)
	if err == nil || errors.Is(err, bmc.ErrIndeterminate) || !strings.Contains(err.Error(), "other-rack-manager") {
		t.Fatalf("power to a rack manager of the wrong name: %v, want a plain error naming the name", err)
	}
	if p := r.bmcs["s2"].HostPower(); p != bmc.PowerOn {
		t.Fatalf("s2's power %v", p)
	}
}

// TestReloadKeepsOldPair: Reload picks up a new pair; a bad new pair
// (key of another certificate, garbage) is an error naming the file and
// the old pair stays.
func TestReloadKeepsOldPair(t *testing.T) {
	ca := newCA(t, "ca")
	certFile, keyFile, caFile := ca.issue(t, "s1")
	f, err := LoadFiles(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := f.Certificate()
	// A good new pair.
	c2, k2, _ := ca.issue(t, "s1")
	copyFile(t, c2, certFile)
	copyFile(t, k2, keyFile)
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	renewed, _ := f.Certificate()
	if renewed.Leaf.SerialNumber.Cmp(old.Leaf.SerialNumber) == 0 {
		t.Fatal("Reload kept the old certificate")
	}
	// A certificate with another's key.
	c3, _, _ := ca.issue(t, "s1")
	copyFile(t, c3, certFile)
	err = f.Reload()
	if err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("mismatched pair: %v, want an error naming %s", err, certFile)
	}
	if cur, _ := f.Certificate(); cur != renewed {
		t.Fatal("a bad reload replaced the pair")
	}
	// A certificate of another CA.
	other := newCA(t, "other")
	c4, k4, _ := other.issue(t, "s1")
	copyFile(t, c4, certFile)
	copyFile(t, k4, keyFile)
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("another CA's pair: %v, want does not verify", err)
	}
	if err := os.WriteFile(caFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("garbage CA file: %v", err)
	}
	if cur, _ := f.Certificate(); cur != renewed {
		t.Fatal("a bad reload replaced the pair")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serverSerial connects to r and returns the serial of the certificate
// the rack manager presents.
func serverSerial(t *testing.T, r *testRack, client CertSource) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(r.url, "https://"), ClientTLS(client, "rack-manager"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestServerReload: Files.Reload on the rack manager's source changes
// the certificate of new connections on the same listener; a failed
// reload keeps serving the old one.
func TestServerReload(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	client := r.ca.files(t, "s1")
	first := serverSerial(t, r, client)
	c2, k2, _ := r.ca.issue(t, "rack-manager")
	copyFile(t, c2, r.serverCert)
	copyFile(t, k2, r.serverKey)
	if err := r.serverFiles.Reload(); err != nil {
		t.Fatal(err)
	}
	renewed := serverSerial(t, r, client)
	if renewed == first {
		t.Fatal("new connections still get the old certificate after Reload")
	}
	if err := os.WriteFile(r.serverKey, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.serverFiles.Reload(); err == nil {
		t.Fatal("Reload accepted a garbage key")
	}
	if got := serverSerial(t, r, client); got != renewed {
		t.Fatalf("after a failed reload the server presents %s, want %s", got, renewed)
	}
	if _, err := r.clientWith(client).Rack(t.Context()); err != nil {
		t.Fatalf("serving after a failed reload: %v", err)
	}
}
