package ipmibmc

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// lossyProxy relays UDP between the adapter and a BMC on loopback and can
// drop the BMC's answers: the requests still reach the BMC, so an
// operation may happen while its answer is lost. Like a NAT, it keeps one
// upstream socket per client socket, so answers go back to the socket
// that asked (a new session's socket never gets an old session's answer).
type lossyProxy struct {
	ln   *net.UDPConn
	bmc  *net.UDPAddr
	mu   sync.Mutex
	ups  map[string]*net.UDPConn
	drop func(n int) bool // n counts requests from 1; true drops n's answer
	n    int
	lose bool // the answer to the current request is dropped

	// Hostile hooks (hostile_test.go), set before traffic starts.
	onRequest func(d []byte) [][]byte // datagrams sent to the client before d goes on
	mutate    func(d []byte) []byte   // rewrites an answer
	record    bool                    // keep copies of the answers in recorded
	recorded  [][]byte
}

func newLossyProxy(t *testing.T, bmcAddr string) *lossyProxy {
	t.Helper()
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ra, err := net.ResolveUDPAddr("udp", bmcAddr)
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, bmc: ra, ups: map[string]*net.UDPConn{}}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, u := range p.ups {
			u.Close()
		}
		p.mu.Unlock()
	})
	go func() { // client -> BMC
		buf := make([]byte, 2048)
		for {
			n, addr, err := ln.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			up, ok := p.ups[addr.String()]
			if !ok {
				if up, err = net.DialUDP("udp", nil, ra); err != nil {
					p.mu.Unlock()
					return
				}
				p.ups[addr.String()] = up
				go p.back(up, addr)
			}
			p.n++
			p.lose = p.drop != nil && p.drop(p.n)
			var forged [][]byte
			if p.onRequest != nil {
				forged = p.onRequest(append([]byte(nil), buf[:n]...))
			}
			p.mu.Unlock()
			for _, f := range forged {
				_, _ = ln.WriteToUDP(f, addr)
			}
			_, _ = up.Write(buf[:n])
		}
	}()
	return p
}

// back relays the BMC's answers on up to client.
func (p *lossyProxy) back(up *net.UDPConn, client *net.UDPAddr) {
	buf := make([]byte, 2048)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		lose := p.lose
		d := buf[:n]
		if p.mutate != nil {
			d = p.mutate(append([]byte(nil), d...))
		}
		if p.record {
			p.recorded = append(p.recorded, append([]byte(nil), d...))
		}
		p.mu.Unlock()
		if !lose {
			_, _ = p.ln.WriteToUDP(d, client)
		}
	}
}

// setDrop sets the drop rule, counting requests from now.
func (p *lossyProxy) setDrop(f func(n int) bool) {
	p.mu.Lock()
	p.n, p.drop, p.lose = 0, f, false
	p.mu.Unlock()
}

func lossyAdapter(t *testing.T) (*ipmisim.Sim, *lossyProxy, *BMC) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	p := newLossyProxy(t, s.Addr())
	cfg := simConfig(s)
	cfg.Port = p.ln.LocalAddr().(*net.UDPAddr).Port
	cfg.Retries = 0 // go-ipmi would otherwise re-send the request and get the next answer
	cfg.Timeout = 300 * time.Millisecond
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.PowerState(ctxT(t, 5*time.Second)); err != nil { // session open
		t.Fatal(err)
	}
	return s, p, b
}

// TestPowerAnswerLostButConfirmed: the Chassis Control answer is lost,
// the BMC did power off, and the read-back confirms it: success.
func TestPowerAnswerLostButConfirmed(t *testing.T) {
	s, p, b := lossyAdapter(t)
	p.setDrop(func(n int) bool { return n == 2 }) // 1: state before, 2: chassis control
	if err := b.SetPower(ctxT(t, 10*time.Second), bmc.PowerActionOff); err != nil {
		t.Fatalf("SetPower(off) with its answer lost but the state read back off: %v", err)
	}
	if s.PowerChild() != 0 {
		t.Error("server still on")
	}
}

// TestPowerAnswerLostIndeterminate: the request reaches the BMC (the
// server goes off), but no answer comes back at all: the outcome cannot
// be confirmed, so the error says indeterminate, not unreachable.
func TestPowerAnswerLostIndeterminate(t *testing.T) {
	s, p, b := lossyAdapter(t)
	p.setDrop(func(n int) bool { return n >= 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := b.SetPower(ctx, bmc.PowerActionOff)
	if !errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("SetPower(off) with every answer lost: %v, want bmc.ErrIndeterminate", err)
	}
	t.Log(err)
	p.setDrop(nil)
	st, err := b.PowerState(ctxT(t, 5*time.Second))
	// The BMC did carry it out: exactly why it must not be retried blindly.
	if err != nil || st != bmc.PowerOff || s.PowerChild() != 0 {
		t.Errorf("after answers return: %v, %v; the request did reach the BMC", st, err)
	}
}

// TestReadingsAnswerLost: a reading whose answer is lost fails the poll
// with bmc.ErrUnreachable; the next poll recovers on a new session.
func TestReadingsAnswerLost(t *testing.T) {
	_, p, b := lossyAdapter(t)
	if _, err := b.Readings(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	p.setDrop(func(n int) bool { return n >= 5 && n <= 7 }) // a few answers mid-poll, and the retry's
	_, err := b.Readings(ctxT(t, 5*time.Second))
	if !errors.Is(err, bmc.ErrUnreachable) {
		t.Fatalf("poll with lost answers: %v, want bmc.ErrUnreachable", err)
	}
	p.setDrop(nil)
	rs, err := b.Readings(ctxT(t, 5*time.Second))
	if err != nil || len(rs) != 24 {
		t.Fatalf("next poll: %d readings, %v", len(rs), err)
	}
}

// inject sends d to the latest client socket, as if from the BMC.
func (p *lossyProxy) inject(t *testing.T, d []byte) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, up := range p.ups {
		_ = up
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.ln.WriteToUDP(d, ua); err != nil {
			t.Fatal(err)
		}
	}
}
