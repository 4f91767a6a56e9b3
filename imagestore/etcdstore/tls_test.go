package etcdstore_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/imagestoretest"
	"github.com/rackha/failover/internal/etcdrig"
	"go.etcd.io/etcd/client/pkg/v3/transport"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, all made for one test.
type testPKI struct {
	dir        string
	ca         *x509.Certificate
	caKey      *ecdsa.PrivateKey
	pool       *x509.CertPool
	client     tls.Certificate
	clientKeyP string // the client key in PEM, to check it is never printed
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.write(t, "ca.pem", "CERTIFICATE", der)
	certPEM, keyPEM := p.issue(t, 2, "server", x509.ExtKeyUsageServerAuth)
	p.write(t, "server.pem", "", certPEM)
	p.write(t, "server-key.pem", "", keyPEM)
	certPEM, keyPEM = p.issue(t, 3, "client", x509.ExtKeyUsageClientAuth)
	if p.client, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	p.clientKeyP = string(keyPEM)
	return p
}

// issue returns a certificate signed by the CA and its key, both PEM.
func (p *testPKI) issue(t *testing.T, serial int64, cn string, use x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{use},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func (p *testPKI) write(t *testing.T, name, typ string, data []byte) {
	t.Helper()
	if typ != "" {
		data = pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: data})
	}
	if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Mutual TLS: a Store with the client certificate works; one without is
// refused; neither the Config nor the errors show the key.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	e, endpoint, err := etcdrig.StartEmbedded(t.TempDir(), &transport.TLSInfo{
		CertFile: filepath.Join(p.dir, "server.pem"), KeyFile: filepath.Join(p.dir, "server-key.pem"),
		TrustedCAFile: filepath.Join(p.dir, "ca.pem"), ClientCertAuth: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close) // registered first: runs after the Stores' Close

	cfg := testConfig(endpoint, newPrefix())
	cfg.TLS = &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}, MinVersion: tls.VersionTLS12}
	s := newStore(t, cfg)
	img, err := s.Put(callCtx(t), imagestoretest.Sample("vm1"))
	if err != nil {
		t.Fatalf("Put over mutual TLS: %v", err)
	}
	if _, err := imagestore.Claim(callCtx(t), s, img, "blade-b"); err != nil {
		t.Fatalf("Claim over mutual TLS: %v", err)
	}
	keyBody := strings.Split(p.clientKeyP, "\n")[1] // a line of the key's base64
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg), fmt.Sprintf("%v %+v %#v", s, s, s)} {
		if strings.Contains(out, keyBody) || strings.Contains(out, "PRIVATE") {
			t.Fatalf("printed Config or Store shows the TLS key: %s", out)
		}
	}

	noCert := testConfig(endpoint, cfg.Prefix)
	noCert.TLS = &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	noCert.RequestTimeout = 500 * time.Millisecond
	anon := newStore(t, noCert)
	if _, err := anon.Get(callCtx(t), "vm1"); err == nil {
		t.Fatal("Get without a client certificate succeeded")
	}
}
