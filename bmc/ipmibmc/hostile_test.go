package ipmibmc

import (
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// Attacks from a hostile BMC network. The proxy of lossy_test.go stands
// at the BMC's address, so forged datagrams come from where the BMC's
// answers come from, as a spoofing attacker's would; no raw socket needed.

// proxied returns an adapter for s through a proxy whose hooks are set
// by setup before any traffic; the session is not opened yet.
func proxied(t *testing.T, s *ipmisim.Sim, setup func(p *lossyProxy)) (*lossyProxy, *BMC) {
	t.Helper()
	p := newLossyProxy(t, s.Addr())
	p.mu.Lock()
	if setup != nil {
		setup(p)
	}
	p.mu.Unlock()
	cfg := simConfig(s)
	cfg.Port = p.ln.LocalAddr().(*net.UDPAddr).Port
	cfg.Retries = 0
	cfg.Timeout = 300 * time.Millisecond
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return p, b
}

// ipmi15ChassisAnswer is an IPMI 1.5 "auth none" Get Chassis Status
// answer for requester sequence rqSeq, reading power off.
func ipmi15ChassisAnswer(rqSeq uint8) []byte {
	msg := []byte{0x81, 0x01 << 2, 0, 0x20, rqSeq << 2, cmdChassisStatus, 0x00, 0x00, 0x00, 0x00, 0}
	msg[2] = -(msg[0] + msg[1])
	var sum byte
	for _, c := range msg[3 : len(msg)-1] {
		sum += c
	}
	msg[len(msg)-1] = -sum
	d := []byte{0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(msg))}
	return append(d, msg...)
}

// TestAttackIPMI15AnswersInSession (attack a): unauthenticated IPMI 1.5
// "power off" answers for every requester sequence, queued before the
// request, do not make a running server read off.
func TestAttackIPMI15AnswersInSession(t *testing.T) {
	_, p, b := lossyAdapter(t) // server on, session open
	for rq := uint8(1); rq <= 63; rq++ {
		p.inject(t, ipmi15ChassisAnswer(rq))
	}
	time.Sleep(20 * time.Millisecond) // queued in the adapter's socket
	for range 3 {
		st, err := b.PowerState(ctxT(t, 5*time.Second))
		if err != nil || st != bmc.PowerOn {
			t.Fatalf("with 63 forged IPMI 1.5 answers: %v, %v; the server is on", st, err)
		}
	}
	if n := b.s.guard.last.Load().dropped.Load(); n < 63 {
		t.Errorf("%d datagrams dropped, 63 forged", n)
	}
}

// TestAttackReplayedAnswers: genuine answers of the same session,
// recorded while the server was on and replayed after it went off, are
// refused by the sequence window (their integrity codes are valid).
func TestAttackReplayedAnswers(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	p, b := proxied(t, s, nil)
	if _, err := b.PowerState(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.record = true
	p.mu.Unlock()
	for range 70 { // every requester sequence (1..63) answered "on"
		if st, err := b.PowerState(ctxT(t, 5*time.Second)); err != nil || st != bmc.PowerOn {
			t.Fatal(st, err)
		}
	}
	p.mu.Lock()
	p.record = false
	old := p.recorded
	p.mu.Unlock()
	if err := b.SetPower(ctxT(t, 10*time.Second), bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	for _, d := range old {
		p.inject(t, d)
	}
	time.Sleep(20 * time.Millisecond)
	for range 3 {
		st, err := b.PowerState(ctxT(t, 5*time.Second))
		if err != nil || st != bmc.PowerOff {
			t.Fatalf("with %d replayed 'on' answers: %v, %v; the server is off", len(old), st, err)
		}
	}
}

// forgedOpenResponse answers Open Session Request req with "none" for
// authentication and integrity and AES for confidentiality.
func forgedOpenResponse(req []byte) []byte {
	pl := make([]byte, 36)
	copy(pl[4:8], req[sessHeader+4:sessHeader+8]) // the console's session ID
	binary.LittleEndian.PutUint32(pl[8:12], 0x0badf00d)
	for i, alg := range []byte{0, 0, 1} {
		pl[12+8*i], pl[12+8*i+3], pl[12+8*i+4] = byte(i), 8, alg
	}
	return mkSetupAnswer(payloadOpenResp, pl)
}

// forgedRAKP2 answers RAKP 1 with status "no errors" and no code, as
// authentication "none" has it.
func forgedRAKP2(consoleID []byte) []byte {
	pl := make([]byte, 40)
	copy(pl[4:8], consoleID)
	for i := 8; i < len(pl); i++ {
		pl[i] = byte(i * 7)
	}
	return mkSetupAnswer(payloadRAKP2, pl)
}

func mkSetupAnswer(typ uint8, pl []byte) []byte {
	d := []byte{0x06, 0x00, 0xff, 0x07, 0x06, typ, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(pl)), 0}
	return append(d, pl...)
}

// TestAttackForgedSetup (attack b): a forged Open Session Response with
// authentication "none" and a forged RAKP 2 (and RAKP 4), each arriving
// before the BMC's answer, neither switch the integrity check off nor
// cost a timeout; encrypted junk afterwards is dropped (go-ipmi would
// panic decrypting it).
func TestAttackForgedSetup(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	var consoleID atomic.Value
	_, b := proxied(t, s, func(p *lossyProxy) {
		p.onRequest = func(d []byte) [][]byte {
			typ, pl, ok := rmcpPlus(d)
			if !ok || pl == nil {
				return nil
			}
			switch typ & 0x3f {
			case payloadOpenReq:
				consoleID.Store(append([]byte(nil), pl[4:8]...))
				return [][]byte{forgedOpenResponse(d)}
			case payloadRAKP1:
				id, _ := consoleID.Load().([]byte)
				return [][]byte{forgedRAKP2(id)}
			case payloadRAKP3:
				id, _ := consoleID.Load().([]byte)
				pl := make([]byte, 8)
				copy(pl[4:8], id)
				return [][]byte{mkSetupAnswer(payloadRAKP4, pl)}
			case payloadIPMI:
				if typ&flagEncrypted == 0 {
					return nil
				}
				// Encrypted junk before each answer.
				junk := make([][]byte, 5)
				for i := range junk {
					junk[i] = forged()
				}
				return junk
			}
			return nil
		}
	})
	start := time.Now()
	st, err := b.PowerState(ctxT(t, 5*time.Second))
	if err != nil || st != bmc.PowerOn {
		t.Fatalf("session setup with forged answers: %v, %v", st, err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("session setup took %v with forged answers: a timeout was spent", d)
	}
	g := b.s.guard.last.Load()
	if !g.verifying() || g.dropped.Load() < 3 {
		t.Fatalf("verifying %v, %d dropped; 3 forged setup answers and junk", g.verifying(), g.dropped.Load())
	}
	for range 3 {
		if _, err := b.PowerState(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenSessionAlgorithmsMustMatch: a BMC (or attacker) answering Open
// Session with weaker algorithms than the configured suite's fails the
// setup with bmc.ErrInsecure.
func TestOpenSessionAlgorithmsMustMatch(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	for _, tc := range []struct {
		name string
		at   int // payload offset of the algorithm byte
	}{{"authentication none", 16}, {"integrity none", 24}, {"confidentiality none", 32}} {
		_, b := proxied(t, s, func(p *lossyProxy) {
			p.mutate = func(d []byte) []byte {
				if typ, pl, ok := rmcpPlus(d); ok && typ&0x3f == payloadOpenResp && len(pl) >= 36 {
					pl[tc.at] = 0
				}
				return d
			}
		})
		_, err := b.PowerState(ctxT(t, 5*time.Second))
		if !errors.Is(err, bmc.ErrInsecure) {
			t.Errorf("%s: %v, want bmc.ErrInsecure", tc.name, err)
		}
	}
}

// countingDialer wraps the guard's dialer and counts the Chassis Control
// power-down requests go-ipmi writes (plaintext above the guard).
type countingDialer struct {
	d         dialer
	powerDown atomic.Int64
}

func (c *countingDialer) Dial(network, addr string) (net.Conn, error) {
	conn, err := c.d.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return countingConn{conn, c}, nil
}

type countingConn struct {
	net.Conn
	c *countingDialer
}

func (c countingConn) Write(p []byte) (int, error) {
	// IPMI request: rsAddr, netFn/LUN, checksum, rqAddr, rqSeq, cmd, data.
	if typ, pl, ok := rmcpPlus(p); ok && typ&0x3f == payloadIPMI && len(pl) >= 7 &&
		pl[1]>>2 == uint8(netFnChassis) && pl[5] == cmdChassisControl && pl[6] == ctlPowerDown {
		c.c.powerDown.Add(1)
	}
	return c.Conn.Write(p)
}

// TestFenceSendsPowerOffWhenReadingOff: power-off is sent even when the
// chassis already reads off (a stale or wrong reading must not turn the
// fence into a no-op), and is confirmed by read-back.
func TestFenceSendsPowerOffWhenReadingOff(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: false})
	b := open(t, s)
	cd := &countingDialer{d: b.s.dial}
	b.s.dial = cd
	if st, err := b.PowerState(ctxT(t, 5*time.Second)); err != nil || st != bmc.PowerOff {
		t.Fatalf("server should read off: %v, %v", st, err)
	}
	if err := b.SetPower(ctxT(t, 5*time.Second), bmc.PowerActionOff); err != nil {
		t.Fatalf("power off of a server that reads off: %v", err)
	}
	if n := cd.powerDown.Load(); n != 1 {
		t.Errorf("%d Chassis Control power-down requests sent, want 1", n)
	}
}

// ivRecorder makes p keep the IV of every encrypted request.
func ivRecorder(p *lossyProxy, ivs map[[16]byte]int, n *int) {
	p.onRequest = func(d []byte) [][]byte {
		if typ, pl, ok := rmcpPlus(d); ok && typ&0x3f == payloadIPMI && typ&flagEncrypted != 0 && len(pl) >= 16 {
			ivs[[16]byte(pl[:16])]++
			*n++
		}
		return nil
	}
}

// TestFreshIVs: every encrypted request carries its own IV, many
// requests within one second (go-ipmi v0.9.1 seeded math/rand with the
// Unix second: a second's requests shared one or two IVs), and both
// go-ipmi's BMC server (suite 17) and ipmi_sim (suite 3) accept every
// request.
func TestFreshIVs(t *testing.T) {
	for _, tc := range []struct {
		name string
		sim  bool
		n    int
	}{{"go-ipmi server, suite 17", false, 10000}, {"ipmi_sim, suite 3", true, 2000}} {
		t.Run(tc.name, func(t *testing.T) {
			var addr, user, pw string
			suite := 17
			if tc.sim {
				s := startSim(t, ipmisim.Config{PoweredOn: true})
				addr, user, pw, suite = s.Addr(), s.User(), s.Password(), 3
			} else {
				addr, user, pw = "127.0.0.1:"+strconv.Itoa(goipmiServer(t)), "admin", "s3cret-17"
			}
			p := newLossyProxy(t, addr)
			ivs := map[[16]byte]int{}
			var sent int
			p.mu.Lock()
			ivRecorder(p, ivs, &sent)
			p.mu.Unlock()
			cfg := DefaultConfig("127.0.0.1", user, pw)
			cfg.Port, cfg.CipherSuite = p.ln.LocalAddr().(*net.UDPAddr).Port, suite
			b, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx := ctxT(t, time.Minute)
			start := time.Now()
			for i := range tc.n {
				if _, err := b.s.raw(ctx, "Get Chassis Status", netFnChassis, cmdChassisStatus, nil, false); err != nil {
					t.Fatalf("request %d refused: %v", i, err)
				}
			}
			took := time.Since(start)
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Logf("%d requests in %v, %d encrypted, %d distinct IVs", tc.n, took, sent, len(ivs))
			if sent < tc.n || len(ivs) != sent {
				t.Errorf("%d encrypted requests carried %d distinct IVs", sent, len(ivs))
			}
			if n := b.s.guard.last.Load().dropped.Load(); n != 0 {
				t.Errorf("%d genuine answers dropped", n)
			}
		})
	}
}
