package rackhttp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/rack"
)

// testCA is a CA made in the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64 = 1

var serialMu sync.Mutex

func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serial++
	return big.NewInt(serial)
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate for name (as DNS SAN and CN), its key and
// the CA file into a temporary directory and returns their paths.
func (ca *testCA) issue(t testing.TB, name string) (certFile, keyFile, caFile string) {
	t.Helper()
	return ca.issueIn(t, t.TempDir(), name)
}

// issueIn is issue into dir.
func (ca *testCA) issueIn(t testing.TB, dir, name string) (certFile, keyFile, caFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, caFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), filepath.Join(dir, "ca.crt")
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	write(caFile, ca.pem)
	return certFile, keyFile, caFile
}

func (ca *testCA) files(t testing.TB, name string) *Files {
	t.Helper()
	f, err := LoadFiles(ca.issue(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// auditLog collects audit records.
type auditLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.Write(p)
}

func (a *auditLog) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.String()
}

// testRack is a rack of simbmc servers served over mutual TLS on
// loopback.
type testRack struct {
	t     testing.TB
	ca    *testCA
	bmcs  map[string]*simbmc.BMC
	local *rack.Local
	h     *Handler
	url   string
	audit *auditLog
	// The rack manager's certificate source and its files.
	serverFiles           *Files
	serverCert, serverKey string
	conns                 *connTracker
	server                *http.Server
}

type rackOpts struct {
	servers []string // default s1, s2 in Pairs
	ring    bool     // Ring instead of Pairs
	run     bool     // run Local.Run (else poll by hand)
	local   func(*rack.LocalConfig)
	handler func(*HandlerConfig)
	wrap    func(http.Handler) http.Handler
}

var quiet = slog.New(slog.DiscardHandler)

func newTestRack(t testing.TB, o rackOpts) *testRack {
	t.Helper()
	if o.servers == nil {
		o.servers = []string{"s1", "s2"}
	}
	r := &testRack{t: t, ca: newCA(t, "rack CA"), bmcs: map[string]*simbmc.BMC{}, audit: &auditLog{}}
	topo, err := rack.Pairs(o.servers...)
	if o.ring {
		topo, err = rack.Ring(o.servers...)
	}
	if err != nil {
		t.Fatal(err)
	}
	lcfg := rack.DefaultLocalConfig()
	lcfg.Topology, lcfg.Logger = topo, quiet
	lcfg.Interval, lcfg.FastInterval = 100*time.Millisecond, -1
	lcfg.PowerTimeout = 5 * time.Second
	for _, name := range o.servers {
		b, err := simbmc.New(simbmc.DefaultConfig(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		r.bmcs[name] = b
		lcfg.Servers = append(lcfg.Servers, rack.Server{Name: name, Sensors: b, Health: b, Watchdog: b, Power: b})
	}
	if o.local != nil {
		o.local(&lcfg)
	}
	if r.local, err = rack.NewLocal(lcfg); err != nil {
		t.Fatal(err)
	}
	hcfg := DefaultHandlerConfig()
	hcfg.Local, hcfg.Topology, hcfg.Logger = r.local, topo, quiet
	hcfg.Audit = slog.New(slog.NewJSONHandler(r.audit, nil))
	hcfg.Heartbeat = 100 * time.Millisecond
	hcfg.Operators = []string{"operator"}
	if o.handler != nil {
		o.handler(&hcfg)
	}
	if r.h, err = NewHandler(hcfg); err != nil {
		t.Fatal(err)
	}
	var handler http.Handler = r.h
	if o.wrap != nil {
		handler = o.wrap(handler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.conns = &connTracker{Listener: ln, conns: map[net.Conn]bool{}}
	var caFile string
	r.serverCert, r.serverKey, caFile = r.ca.issue(t, "rack-manager")
	if r.serverFiles, err = LoadFiles(r.serverCert, r.serverKey, caFile); err != nil {
		t.Fatal(err)
	}
	r.server = NewServer("", handler, ServerTLS(r.serverFiles), quiet)
	go func() { _ = r.server.ServeTLS(r.conns, "", "") }()
	t.Cleanup(func() { r.server.Close() })
	r.url = "https://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	if o.run {
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.local.Run(ctx) }()
	}
	return r
}

// client returns a Client presenting a certificate for name from the
// rack's CA.
func (r *testRack) client(name string, edit ...func(*ClientConfig)) *Client {
	r.t.Helper()
	return r.clientWith(r.ca.files(r.t, name), edit...)
}

func (r *testRack) clientWith(src CertSource, edit ...func(*ClientConfig)) *Client {
	r.t.Helper()
	cfg := DefaultClientConfig()
	cfg.URL, cfg.TLS, cfg.Logger = r.url, ClientTLS(src, "rack-manager"), quiet
	cfg.StallAfter = time.Second
	cfg.Backoff, cfg.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	cfg.PowerTimeout = 10 * time.Second
	for _, e := range edit {
		e(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(c.Close)
	return c
}

// connTracker is a listener that can close every connection it accepted.
type connTracker struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]bool
	n      int
	sndbuf int // when set, the send buffer of each accepted connection
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		if tcp, ok := c.(*net.TCPConn); ok && l.sndbuf > 0 {
			_ = tcp.SetWriteBuffer(l.sndbuf)
		}
		l.conns[c] = true
		l.n++
		l.mu.Unlock()
	}
	return c, err
}

// smallSendBuffers makes the send buffer of each later connection small.
func (l *connTracker) smallSendBuffers() {
	l.mu.Lock()
	l.sndbuf = 4096
	l.mu.Unlock()
}

// dropAll closes every connection accepted so far.
func (l *connTracker) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
		delete(l.conns, c)
	}
}

func (l *connTracker) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// next receives one status within d or fails the test.
func next(t testing.TB, ch <-chan rack.Status, d time.Duration) rack.Status {
	t.Helper()
	select {
	case st, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return st
	case <-time.After(d):
		t.Fatalf("no status within %v", d)
	}
	return rack.Status{}
}
