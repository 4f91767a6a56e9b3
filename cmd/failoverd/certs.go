package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// rackManagerName is the name in the rack manager's certificate (a DNS
// SAN, with localhost and 127.0.0.1).
const rackManagerName = "rack-manager"

// certValidity is how long `failoverd certs` certificates last: a
// bootstrap, to be replaced by the site's own PKI.
const (
	caValidity   = 5 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
)

// certSet names the files certs writes in its directory.
type certSet struct {
	Dir string
}

func (s certSet) CA() string                { return filepath.Join(s.Dir, "ca.pem") }
func (s certSet) CAKey() string             { return filepath.Join(s.Dir, "ca-key.pem") }
func (s certSet) Cert(name string) string   { return filepath.Join(s.Dir, name+".pem") }
func (s certSet) Key(name string) string    { return filepath.Join(s.Dir, name+"-key.pem") }
func (s certSet) Pair(name string) CertPair { return CertPair{Cert: s.Cert(name), Key: s.Key(name)} }

func runCerts(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("certs", stderr)
	dir := fs.String("dir", "", "directory to write the CA and certificates into (created, mode 0700)")
	servers := fs.String("servers", "", "comma-separated server names, as in the config")
	operator := fs.String("operator", "", "also a certificate for this operator name (failoverd status)")
	hosts := fs.String("rack-manager-hosts", "", "comma-separated extra DNS names or IPs of the rack manager (its URL's host)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" || *servers == "" {
		return usageError("certs needs -dir and -servers")
	}
	set, err := makeCerts(*dir, splitList(*servers), *operator, splitList(*hosts), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a bootstrap CA and certificates to %s (keys mode 0600).\n", set.Dir)
	fmt.Fprintf(stdout, "This is a first-install bootstrap, not a PKI: keep %s offline, and replace these with your own CA's certificates.\n", set.CAKey())
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// makeCerts writes a CA and one certificate per server (DNS SAN = its
// name), one for the rack manager (rack-manager, localhost, 127.0.0.1 and
// hosts) and one for the operator if named. It never overwrites a file.
func makeCerts(dir string, servers []string, operator string, hosts []string, now time.Time) (certSet, error) {
	set := certSet{Dir: dir}
	names := map[string]bool{rackManagerName: true, "ca": true}
	for _, n := range append(append([]string(nil), servers...), operator) {
		if n == "" {
			continue
		}
		if !serverNameRE.MatchString(n) {
			return set, usageError("certificate name %q: want a DNS label (letters, digits, '-')", n)
		}
		if names[n] {
			return set, usageError("certificate name %q given twice or reserved", n)
		}
		names[n] = true
	}
	if len(servers) == 0 {
		return set, usageError("no servers")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return set, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return set, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "failoverd bootstrap CA", Organization: []string{"failoverd"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return set, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return set, err
	}
	if err := writePEM(set.CA(), "CERTIFICATE", caDER, 0o644); err != nil {
		return set, err
	}
	if err := writeKey(set.CAKey(), caKey); err != nil {
		return set, err
	}
	leaf := func(name string, dns []string, ips []net.IP) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: name, Organization: []string{"failoverd"}},
			DNSNames:     dns,
			IPAddresses:  ips,
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(leafValidity),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			// Every process is a TLS client of the rack manager; the rack
			// manager is also a server.
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := writePEM(set.Cert(name), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		return writeKey(set.Key(name), key)
	}
	rmDNS := []string{rackManagerName, "localhost"}
	rmIPs := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			rmIPs = append(rmIPs, ip)
		} else {
			rmDNS = append(rmDNS, h)
		}
	}
	if err := leaf(rackManagerName, rmDNS, rmIPs); err != nil {
		return set, err
	}
	for _, s := range servers {
		if err := leaf(s, []string{s}, nil); err != nil {
			return set, err
		}
	}
	if operator != "" {
		if err := leaf(operator, []string{operator}, nil); err != nil {
			return set, err
		}
	}
	return set, nil
}

// serial is a random 127-bit serial number (crypto/rand.Int cannot fail
// since Go 1.24: a failing reader crashes the program).
func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

// writePEM creates path (never overwriting one) with mode.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: certs never overwrites; remove it or use another -dir", path)
	}
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
