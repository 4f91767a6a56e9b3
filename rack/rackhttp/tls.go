package rackhttp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// CertSource gives this end's certificate and the CA pool that verifies
// the other end; both may change at any time (a reload).
type CertSource interface {
	Certificate() (*tls.Certificate, error)
	Pool() *x509.CertPool
}

// alpn: HTTP/1.1 only, so that each stream has its own connection.
var alpn = []string{"http/1.1"}

// ServerTLS returns the rack manager's TLS configuration: TLS 1.3 only,
// and a client certificate verified against src's pool is required. The
// certificate and the pool are read from src at each handshake, so a
// reload takes effect for new connections without a new listener.
func ServerTLS(src CertSource) *tls.Config {
	perConn := func() (*tls.Config, error) {
		cert, err := src.Certificate()
		if err != nil {
			return nil, err
		}
		return &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{*cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    src.Pool(),
			NextProtos:   alpn,
		}, nil
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ClientAuth:         tls.RequireAndVerifyClientCert,
		NextProtos:         alpn,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return perConn() },
	}
}

// ClientTLS returns a monitor's TLS configuration: TLS 1.3 only, the
// rack manager's certificate must name serverName and verify against
// src's pool, and src's certificate is presented (read at each
// handshake, so a reload of the pair takes effect on the next
// connection). The pool is read once, here: a new CA needs a new
// ClientTLS (and Client).
func ClientTLS(src CertSource, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: serverName,
		RootCAs:    src.Pool(),
		NextProtos: alpn,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return src.Certificate()
		},
	}
}

// Files is a CertSource read from PEM files: a certificate (chain), its
// private key and the CA certificates that verify peers. Reload reads
// them again. Safe for concurrent use.
type Files struct {
	certFile, keyFile, caFile string

	mu   sync.RWMutex
	cert *tls.Certificate
	pool *x509.CertPool
}

// LoadFiles reads the three files; see Reload for what is checked.
func LoadFiles(certFile, keyFile, caFile string) (*Files, error) {
	f := &Files{certFile: certFile, keyFile: keyFile, caFile: caFile}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the files again (on SIGHUP). The new pair must match, its
// certificate must be valid now and verify against the new CA file;
// otherwise the old pair and pool stay in use and the error names the
// file and what is wrong. Key material never appears in errors.
func (f *Files) Reload() error {
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("rackhttp: certificate %s with key %s: %w", f.certFile, f.keyFile, err)
	}
	caPEM, err := os.ReadFile(f.caFile)
	if err != nil {
		return fmt.Errorf("rackhttp: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("rackhttp: CA file %s holds no PEM certificate", f.caFile)
	}
	leaf := cert.Leaf
	if leaf == nil {
		return fmt.Errorf("rackhttp: certificate %s: no leaf", f.certFile)
	}
	if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("rackhttp: certificate %s is valid only from %v to %v", f.certFile, leaf.NotBefore, leaf.NotAfter)
	}
	if certName(leaf) == "" {
		return fmt.Errorf("rackhttp: certificate %s names nobody (no DNS SAN, no Common Name)", f.certFile)
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("rackhttp: certificate %s: chain: %w", f.certFile, err)
		}
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("rackhttp: certificate %s does not verify against CA file %s: %w", f.certFile, f.caFile, err)
	}
	f.mu.Lock()
	f.cert, f.pool = &cert, pool
	f.mu.Unlock()
	return nil
}

// Certificate implements CertSource.
func (f *Files) Certificate() (*tls.Certificate, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cert == nil {
		return nil, errors.New("rackhttp: no certificate loaded")
	}
	return f.cert, nil
}

// Pool implements CertSource.
func (f *Files) Pool() *x509.CertPool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.pool
}

// Name returns the name the loaded certificate gives its holder (see
// PeerName).
func (f *Files) Name() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cert == nil || f.cert.Leaf == nil {
		return ""
	}
	return certName(f.cert.Leaf)
}

// certName is the identity a certificate names: its first DNS SAN, else
// its Common Name.
func certName(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}
