package rackpage_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rackha/failover/rack/rackpage"
)

// testCA issues client certificates for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "page test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) client(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Over TLS, a verified client certificate of a server or an operator
// lets a request in without a token; any other name does not; without a
// certificate the token still works.
func TestClientCertificates(t *testing.T) {
	l, _ := newLocal(t, 2)
	ca := newTestCA(t)
	srv := httptest.NewUnstartedServer(newPage(t, rackpage.Config{Local: l, Operators: []string{"alice"}, Token: []byte(token)}))
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.pool, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	clientAs := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	for _, c := range []struct {
		name   string
		client *http.Client
		hdr    []string
		want   int
	}{
		{"operator alice", clientAs(ca.client(t, "alice")), nil, 200},
		{"server s2", clientAs(ca.client(t, "s2")), nil, 200},
		{"stranger mallory", clientAs(ca.client(t, "mallory")), []string{"Authorization", "Bearer " + token}, 401},
		{"no certificate", clientAs(), nil, 401},
		{"no certificate, token", clientAs(), []string{"Authorization", "Bearer " + token}, 200},
	} {
		if resp := get(t, c.client, srv.URL+"/state", c.hdr...); resp.StatusCode != c.want {
			t.Errorf("%s: GET /state = %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
}
