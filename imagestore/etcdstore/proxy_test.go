package etcdstore_test

import (
	"net"
	"sync"
	"testing"
)

// proxy is a TCP proxy between a client and etcd that can lose traffic
// one way, as a partition does, and cut every connection.
type proxy struct {
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	mode    proxyMode
	dropped int // chunks lost since the mode was set
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

type proxyMode int

const (
	pass         proxyMode = iota
	loseRequests           // client to etcd lost
	loseAnswers            // etcd to client lost
)

// newProxy listens on a free loopback port and forwards to upstream
// ("http://host:port" or "host:port") until the test ends.
func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := trimScheme(upstream); ok {
		upstream = u
	}
	p := &proxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut(pass)
		p.wg.Wait()
	})
	return p
}

func trimScheme(u string) (string, bool) {
	const s = "http://"
	if len(u) > len(s) && u[:len(s)] == s {
		return u[len(s):], true
	}
	return u, false
}

func (p *proxy) endpoint() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns[down], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.copy(up, down, loseRequests)
		go p.copy(down, up, loseAnswers)
	}
}

// copy forwards from src to dst, losing what mode lose says.
func (p *proxy) copy(dst, src net.Conn, lose proxyMode) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			drop := p.mode == lose
			if drop {
				p.dropped++
			}
			p.mu.Unlock()
			if !drop {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// set changes what is lost from now on, on every connection.
func (p *proxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.dropped = m, 0
}

// lost returns the chunks lost since the last set.
func (p *proxy) lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// cut closes every connection (the client sees them reset) and then
// forwards as m says.
func (p *proxy) cut(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mode, p.dropped = m, 0
}
