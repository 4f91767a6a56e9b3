package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"
)

// demoEtcd is the lease scenarios' etcd: one member embedded in the
// demo's process, on loopback, its data in the demo's directory, with
// mutual TLS as a rack would run it (client certificates of the rack's
// CA required). It ends with the demo.
type demoEtcd struct {
	e        *embed.Etcd
	endpoint string           // https://127.0.0.1:port
	cli      *clientv3.Client // in-process, for the demo's own watch
}

// startDemoEtcd starts it with the rack manager's certificate as its
// server certificate (it names 127.0.0.1).
func startDemoEtcd(dir string, certs certSet) (*demoEtcd, error) {
	var lastErr error
	for range 3 { // a port taken between choosing and binding costs a try
		client, peer, err := twoLoopbackPorts()
		if err != nil {
			return nil, err
		}
		cfg := embed.NewConfig()
		cfg.Name, cfg.Dir = "demo", dir
		cu := url.URL{Scheme: "https", Host: client}
		pu := url.URL{Scheme: "http", Host: peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: certs.Cert(rackManagerName), KeyFile: certs.Key(rackManagerName),
			TrustedCAFile: certs.CA(), ClientCertAuth: true}
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			lastErr = err
			os.RemoveAll(dir) // a fresh member at the next try
			continue
		}
		select {
		case <-e.Server.ReadyNotify():
			return &demoEtcd{e: e, endpoint: cu.String(), cli: v3client.New(e.Server)}, nil
		case <-time.After(20 * time.Second):
			e.Close()
			return nil, errors.New("demo: embedded etcd not ready within 20s")
		}
	}
	return nil, fmt.Errorf("demo: embedded etcd: %w", lastErr)
}

func (d *demoEtcd) Close() {
	d.cli.Close()
	d.e.Close()
}

// watchGone sends the time the demo sees key deleted (a lease expired
// takes its keys with it), once, from the revision after rev.
func (d *demoEtcd) watchGone(ctx context.Context, key string, rev int64) <-chan time.Time {
	out := make(chan time.Time, 1)
	go func() {
		for wr := range d.cli.Watch(ctx, key, clientv3.WithRev(rev+1)) {
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					out <- time.Now()
					return
				}
			}
		}
	}()
	return out
}

func twoLoopbackPorts() (string, string, error) {
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs[0], addrs[1], nil
}

// cutProxy relays TCP to one address until cut: then the connections
// are dropped and new ones are accepted but never answered, so the host
// sees timeouts, as behind a dead switch port.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

func newCutProxy(target string) (*cutProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	return p, nil
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.conns[c] = true
		p.mu.Unlock()
		if cut {
			continue // held open, never answered
		}
		go p.relay(c)
	}
}

func (p *cutProxy) relay(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = true
	p.mu.Unlock()
	go func() { io.Copy(up, c); p.drop(up) }() //nolint:errcheck // ends with either side
	io.Copy(c, up)                             //nolint:errcheck // ends with either side
	p.drop(c)
}

func (p *cutProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// setCut cuts (true) or restores (false) the path.
func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	// Cut: the relayed connections end. Restored: the unanswered ones
	// end, so the host dials again.
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) Close() {
	p.ln.Close()
	p.setCut(false)
}
