package etcdrig

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy between a client and etcd that can lose traffic
// one way, as a partition does, and cut every connection.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	mode    Mode
	dropped int // chunks lost since the mode was set
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

type Mode int

const (
	Pass         Mode = iota
	LoseRequests      // client to etcd lost
	LoseAnswers       // etcd to client lost
)

// NewProxy listens on a free loopback port and forwards to upstream
// ("http://host:port" or "host:port") until the test ends.
func NewProxy(t *testing.T, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := TrimScheme(upstream); ok {
		upstream = u
	}
	p := &Proxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut(Pass)
		p.wg.Wait()
	})
	return p
}

// TrimScheme strips "http://" from u; ok says whether it was there.
func TrimScheme(u string) (string, bool) {
	const s = "http://"
	if len(u) > len(s) && u[:len(s)] == s {
		return u[len(s):], true
	}
	return u, false
}

func (p *Proxy) Endpoint() string { return "http://" + p.ln.Addr().String() }

func (p *Proxy) accept() {
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
		go p.copy(up, down, LoseRequests)
		go p.copy(down, up, LoseAnswers)
	}
}

// copy forwards from src to dst, losing what mode lose says.
func (p *Proxy) copy(dst, src net.Conn, lose Mode) {
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

// Set changes what is lost from now on, on every connection.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.dropped = m, 0
}

// Lost returns the chunks lost since the last set.
func (p *Proxy) Lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// Cut closes every connection (the client sees them reset) and then
// forwards as m says.
func (p *Proxy) Cut(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mode, p.dropped = m, 0
}
