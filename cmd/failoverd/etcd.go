package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/etcdstore"
	"github.com/rackha/failover/imagestore/filestore"
	"github.com/rackha/failover/internal/etcdconn"
	"github.com/rackha/failover/rack/rackhttp"
)

// The rack's etcd cluster: one client per process, shared by the image
// store of kind etcd, the monitors' leases and the rack manager's
// election.

// Defaults of the etcd section.
const (
	// A connection on a LAN takes milliseconds; 5 s covers a slow TLS
	// handshake without hiding a dead endpoint for long.
	etcdDialTimeout = 5 * time.Second
	// A write commits in milliseconds; a leader election takes about a
	// second. 5 s rides it out.
	etcdRequestTimeout = 5 * time.Second
)

// etcdSpec is the etcd section as a process dials it.
type etcdSpec struct {
	Endpoints      []string
	Prefix         string
	DialTimeout    time.Duration
	RequestTimeout time.Duration
	// Plaintext: http endpoints, no TLS (insecure_plaintext).
	Plaintext bool
	// CA, Cert, Key are PEM files of mutual TLS; empty with Plaintext.
	CA, Cert, Key string
	Username      string
	// Password, read by the secretFunc; never printed (see String).
	Password string
}

// String names the endpoints, prefix and user, never the password.
func (s etcdSpec) String() string {
	return fmt.Sprintf("etcd %q prefix %q user %q", s.Endpoints, s.Prefix, s.Username)
}

// Format prints String under every verb (%#v and %+v too), so no verb
// reaches the password by reflection.
func (s etcdSpec) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	fmt.Fprint(f, s.String())
}

// LogValue logs the spec without the password.
func (s etcdSpec) LogValue() slog.Value { return slog.StringValue(s.String()) }

// etcdSpec checks the etcd section and reads its password by secret.
// own is the process's own certificate (servers[].tls of a monitor,
// rack_manager.tls of the rack manager): its client certificate to etcd
// unless etcd.tls names one.
func (c *Config) etcdSpec(secret secretFunc, own CertPair) (etcdSpec, error) {
	e := c.Etcd
	v := &checker{file: c.File, root: c.pos.root}
	s := etcdSpec{Prefix: e.Prefix, DialTimeout: etcdDialTimeout, RequestTimeout: etcdRequestTimeout, Plaintext: e.InsecurePlaintext, Username: e.Username}
	if len(e.Endpoints) == 0 {
		return s, c.errAt("etcd.endpoints", "is empty: list the cluster's client URLs (https://host:2379)", nil)
	}
	for i, ep := range e.Endpoints {
		p := fmt.Sprintf("etcd.endpoints[%d]", i)
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.Port() == "" ||
			strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			if err == nil && u.User != nil {
				return s, c.errAt(p, "carries credentials in its URL: use username and password_file", nil)
			}
			return s, c.errAt(p, fmt.Sprintf("%q: want https://host:port", ep), nil)
		}
		if u.User != nil {
			return s, c.errAt(p, "carries credentials in its URL: use username and password_file", nil)
		}
		switch {
		case u.Scheme == "http" && !e.InsecurePlaintext:
			return s, c.errAt(p, fmt.Sprintf("%q is plain http: leases and images would cross the network unencrypted and unauthenticated; use https with etcd.tls, or set etcd.insecure_plaintext: true (a lab or loopback only)", ep), nil)
		case u.Scheme == "https" && e.InsecurePlaintext:
			return s, c.errAt("etcd.insecure_plaintext", fmt.Sprintf("is true but %s %q is https: drop insecure_plaintext", p, ep), nil)
		}
		s.Endpoints = append(s.Endpoints, u.Scheme+"://"+u.Host)
	}
	switch {
	case e.Prefix == "":
		return s, c.errAt("etcd.prefix", "is empty: this rack's own key prefix (\"/rackha/rack-7/\"); two racks on one prefix would share server names", nil)
	case !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/") || strings.Contains(e.Prefix, "//"):
		return s, c.errAt("etcd.prefix", fmt.Sprintf("%q: want a path that starts and ends with \"/\" (\"/rackha/rack-7/\")", e.Prefix), nil)
	}
	v.duration("etcd.dial_timeout", e.DialTimeout, &s.DialTimeout)
	v.duration("etcd.request_timeout", e.RequestTimeout, &s.RequestTimeout)
	if v.err != nil {
		return s, v.err
	}
	checkSecret(v, "etcd", e.Password, e.PasswordFile, e.PasswordEnv, e.Username != "")
	if v.err != nil {
		return s, v.err
	}
	if e.Username == "" && (e.PasswordFile != "" || e.PasswordEnv != "") {
		return s, c.errAt("etcd.username", "is empty but a password is set", nil)
	}
	if e.InsecurePlaintext {
		if e.TLS != (EtcdTLSConfig{}) {
			return s, c.errAt("etcd.tls", "is set but insecure_plaintext is true: use https endpoints with it, or drop it", nil)
		}
		if e.Username != "" {
			return s, c.errAt("etcd.username", "with insecure_plaintext the password would cross the network in clear: use https", nil)
		}
		return s, nil
	}
	s.CA, s.Cert, s.Key = e.TLS.CA, e.TLS.Cert, e.TLS.Key
	if s.CA == "" {
		s.CA = c.TLS.CA
	}
	if (s.Cert == "") != (s.Key == "") {
		return s, c.errAt("etcd.tls", "needs both cert and key, or neither (each process then presents its own certificate)", nil)
	}
	if s.Cert == "" {
		s.Cert, s.Key = own.Cert, own.Key
	}
	if s.Username != "" {
		pw, err := secret("etcd", e.PasswordFile, e.PasswordEnv)
		if err != nil {
			return s, err
		}
		s.Password = pw
	}
	return s, nil
}

// newEtcdClient dials the rack's etcd as the etcd section says, with own
// as the client certificate unless etcd.tls names one. It does not wait
// for a connection, except for the login when a username is set (at
// most dial_timeout). With TLS, the client certificate is read at each
// handshake from files, which keep(files) registers for SIGHUP.
func (c *Config) newEtcdClient(secret secretFunc, own CertPair, keep func(*rackhttp.Files)) (*clientv3.Client, etcdSpec, error) {
	s, err := c.etcdSpec(secret, own)
	if err != nil {
		return nil, s, err
	}
	cc := etcdconn.Config{
		Endpoints:   s.Endpoints,
		Username:    s.Username,
		Password:    s.Password,
		DialTimeout: s.DialTimeout,
		// Reconnect attempts grow to 2 s apart: a restarted etcd is used
		// again within 2 s.
		ReconnectMaxDelay: 2 * time.Second,
		// A dead connection is found within about 10 s + 5 s even with
		// no call waiting (gRPC allows no shorter interval).
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
	}
	if !s.Plaintext {
		files, err := rackhttp.LoadFiles(s.Cert, s.Key, s.CA)
		if err != nil {
			return nil, s, c.errAt("etcd.tls", "cannot load the client certificate (etcd.tls.cert, else this process's own), its key, or the CA (etcd.tls.ca, else tls.ca) that must verify both it and etcd's certificate", err)
		}
		if keep != nil {
			keep(files)
		}
		cc.TLS = &tls.Config{
			// etcd's own default minimum; it speaks 1.3 when both can.
			MinVersion: tls.VersionTLS12,
			RootCAs:    files.Pool(),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return files.Certificate()
			},
		}
	}
	cli, err := cc.Dial()
	if err != nil {
		// The error names the endpoints and the user, never the password.
		return nil, s, c.errAt("etcd", "cannot connect", err)
	}
	return cli, s, nil
}

// etcdClient is this process's etcd client, dialled at the first call
// and closed with a; own is the process's certificate (see etcdSpec).
func (d *daemon) etcdClient(a *adapters, own CertPair) (*clientv3.Client, etcdSpec, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.etcd != nil {
		return d.etcd, d.etcdSpec, nil
	}
	keep := func(f *rackhttp.Files) { d.certs = append(d.certs, f) }
	cli, spec, err := d.cfg.newEtcdClient(d.cfg.readSecret, own, keep)
	if err != nil {
		return nil, spec, err
	}
	d.etcd, d.etcdSpec = cli, spec
	a.closers = append(a.closers, cli)
	return cli, spec, nil
}

// imageStore opens the image store the config names, closed with a;
// own is the process's certificate (an etcd store's client certificate).
func (d *daemon) imageStore(a *adapters, own CertPair) (imagestore.Store, error) {
	if d.cfg.ImageStore.Kind == "etcd" {
		cli, spec, err := d.etcdClient(a, own)
		if err != nil {
			return nil, err
		}
		cfg := etcdstore.DefaultConfig()
		cfg.Client, cfg.Prefix, cfg.RequestTimeout = cli, spec.Prefix, spec.RequestTimeout
		s, err := etcdstore.New(cfg)
		if err != nil {
			return nil, d.cfg.errAt("image_store", "refused", err)
		}
		a.closers = append(a.closers, s)
		return s, nil
	}
	s, err := filestore.Open(d.cfg.ImageStore.Dir)
	if err != nil {
		return nil, d.cfg.errAt("image_store.dir", "cannot open", err)
	}
	a.closers = append(a.closers, s)
	return s, nil
}
