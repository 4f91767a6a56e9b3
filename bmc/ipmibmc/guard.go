package ipmibmc

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/rackha/failover/bmc"
)

// guardConn sits under go-ipmi (as its UDP "proxy" dialer) and is the
// RMCP+ session layer that go-ipmi v0.9.1 gets wrong (see KNOWN ISSUES in
// doc.go). It follows the session setup go-ipmi writes and reads, checks
// every setup answer (the algorithms must be the configured suite's, the
// RAKP 2 key exchange code and the RAKP 4 integrity check value must
// verify) and derives the session keys K1 and K2 itself. go-ipmi is told
// that the BMC chose no confidentiality, so it never encrypts or decrypts:
// the guard encrypts each request with an IV from crypto/rand and signs
// it, and passes go-ipmi an answer only if it is an authenticated,
// encrypted RMCP+ IPMI payload of this session, from the BMC's address,
// with a fresh sequence number, a valid integrity code and a valid
// padding, decrypted. Everything else is dropped and counted.
//
// A guardConn carries one session: setup cannot restart on it, and the
// keys, once set, are never cleared or changed.

// guardDialer dials UDP and wraps the connection in a guardConn.
type guardDialer struct {
	password secret
	suite    types.CipherSuiteID
	last     atomic.Pointer[guardConn] // the latest connection, for tests
}

func (d *guardDialer) Dial(network, addr string) (net.Conn, error) {
	auth, integ, crypt, ok := types.GetCipherSuiteAlgorithms(d.suite)
	if !ok || crypt != types.CryptAlg_AES_CBC_128 || integ == types.IntegrityAlg_None || auth == types.AuthAlg_None {
		return nil, fmt.Errorf("%w: cipher suite %d", bmc.ErrInsecure, d.suite)
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	g := &guardConn{Conn: c, password: d.password, wantAuth: auth, wantInteg: integ}
	if uc, ok := c.(*net.UDPConn); ok {
		g.udp = uc
		g.peer = uc.RemoteAddr().(*net.UDPAddr).AddrPort()
	}
	d.last.Store(g)
	return g, nil
}

// setup phases, in the order they happen.
type phase uint8

const (
	phaseIdle     phase = iota // before Open Session: only IPMI 1.5 pre-session answers
	phaseOpenSent              // Open Session Request written
	phaseRAKP1Sent
	phaseRAKP3Sent
	phaseActive // RAKP 4 verified: only authenticated session payloads
	phaseClosed // setup restarted or refused: nothing passes
)

// guardConn follows go-ipmi's session setup and filters what it reads.
type guardConn struct {
	net.Conn
	udp       *net.UDPConn   // Conn, when it is UDP
	peer      netip.AddrPort // the BMC's address
	password  secret
	wantAuth  types.AuthAlg
	wantInteg types.IntegrityAlg

	mu        sync.Mutex
	phase     phase
	gotAnswer bool   // the answer to the present setup step was accepted
	consoleID uint32 // ours, random, sent in Open Session
	bmcID     uint32
	rc        [16]byte // console random (RAKP 1)
	role      uint8
	user      string
	guid      [16]byte
	sik       []byte
	mac       hash.Hash    // HMAC keyed with K1
	block     cipher.Block // AES-128 keyed with K2[:16]
	codeLen   int          // integrity code length
	seqTop    uint32       // highest sequence number accepted from the BMC
	seqSeen   uint32       // bit i: seqTop-i was accepted
	insecure  string       // why an Open Session Response was refused
	badRAKP   int          // RAKP 2 or 4 answers whose codes did not verify
	wbuf      []byte
	sum       []byte

	dropped atomic.Int64
}

// verifying reports whether the session is up and its answers verified.
func (g *guardConn) verifying() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.phase == phaseActive && g.mac != nil
}

// setupError explains a failed session setup when the guard saw why: an
// Open Session Response with other algorithms than the configured suite
// (bmc.ErrInsecure), or RAKP answers that did not verify (a wrong
// password, or forged answers). Nil otherwise.
func (g *guardConn) setupError() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.phase == phaseActive {
		return nil
	}
	if g.insecure != "" {
		return fmt.Errorf("%w: %s", bmc.ErrInsecure, g.insecure)
	}
	if g.badRAKP > 0 {
		return fmt.Errorf("%d RAKP answer(s) with a key exchange code that does not verify (wrong password, or forged)", g.badRAKP)
	}
	return nil
}

// RMCP+ packet layout (IPMI 2.0 section 13.6): RMCP header (4), auth
// type 0x06 (1), payload type (1), session ID (4), sequence (4), payload
// length (2), payload, then for authenticated packets the integrity pad,
// pad length, next header and the integrity code.
const (
	rmcpHeader      = 4
	rmcpPlusAuth    = 0x06
	payloadIPMI     = 0x00
	payloadOpenReq  = 0x10
	payloadOpenResp = 0x11
	payloadRAKP1    = 0x12
	payloadRAKP2    = 0x13
	payloadRAKP3    = 0x14
	payloadRAKP4    = 0x15
	flagEncrypted   = 0x80
	flagAuthed      = 0x40
	sessHeader      = rmcpHeader + 12
	aesBlock        = 16
)

// rmcpPlus returns the payload type byte (with its flags) and payload of
// an RMCP+ packet; payload is nil when the length field overruns d.
func rmcpPlus(p []byte) (typ uint8, payload []byte, ok bool) {
	if len(p) < sessHeader || p[rmcpHeader] != rmcpPlusAuth {
		return 0, nil, false
	}
	n := int(le16(p[rmcpHeader+10:]))
	if sessHeader+n > len(p) {
		return p[rmcpHeader+1], nil, true
	}
	return p[rmcpHeader+1], p[sessHeader : sessHeader+n], true
}

var errSetupRestart = errors.New("ipmibmc: session setup restarted on a connection that already carried one (refused)")

func (g *guardConn) Write(p []byte) (int, error) {
	typ, pl, ok := rmcpPlus(p)
	if !ok {
		g.mu.Lock()
		idle := g.phase == phaseIdle
		g.mu.Unlock()
		if !idle {
			return 0, errors.New("ipmibmc: IPMI 1.5 request inside an RMCP+ session refused")
		}
		return g.Conn.Write(p) // pre-session Get Channel Authentication Capabilities
	}
	if pl == nil {
		return 0, errors.New("ipmibmc: malformed RMCP+ request")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch typ & 0x3f {
	case payloadOpenReq:
		if g.phase != phaseIdle || len(pl) < 8 {
			g.phase = phaseClosed
			return 0, errSetupRestart
		}
		// Our own random console session ID replaces go-ipmi's constant,
		// so answers of other sessions are told apart.
		g.consoleID = randomSessionID()
		binary.LittleEndian.PutUint32(pl[4:8], g.consoleID)
		g.phase, g.gotAnswer = phaseOpenSent, false
	case payloadRAKP1:
		// tag, 3 reserved, BMC session ID, console random (16), role,
		// 2 reserved, user name length, user name.
		if g.phase != phaseOpenSent || !g.gotAnswer || len(pl) < 28 || len(pl) < 28+int(pl[27]) ||
			binary.LittleEndian.Uint32(pl[4:8]) != g.bmcID {
			g.phase = phaseClosed
			return 0, errors.New("ipmibmc: RAKP 1 out of order refused")
		}
		copy(g.rc[:], pl[8:24])
		g.role = pl[24]
		g.user = string(pl[28 : 28+int(pl[27])])
		g.phase, g.gotAnswer = phaseRAKP1Sent, false
	case payloadRAKP3:
		if g.phase != phaseRAKP1Sent {
			g.phase = phaseClosed
			return 0, errors.New("ipmibmc: RAKP 3 out of order refused")
		}
		// go-ipmi sends RAKP 3 with an error status after a RAKP 2 it
		// refused; the BMC then drops the session.
		g.phase, g.gotAnswer = phaseRAKP3Sent, false
	case payloadIPMI:
		if g.phase == phaseActive && typ&flagAuthed != 0 {
			out, err := g.seal(p, typ, pl)
			if err != nil {
				return 0, err
			}
			if _, err := g.Conn.Write(out); err != nil {
				return 0, err
			}
			return len(p), nil
		}
		if g.phase != phaseIdle {
			return 0, errors.New("ipmibmc: unauthenticated RMCP+ request refused")
		}
	default:
		return 0, fmt.Errorf("ipmibmc: RMCP+ payload type %#02x not used by this adapter, refused", typ&0x3f)
	}
	return g.Conn.Write(p)
}

func (g *guardConn) Read(p []byte) (int, error) {
	for {
		n, err := g.readFromPeer(p)
		if err != nil {
			return n, err
		}
		if m, ok := g.accept(p[:n]); ok {
			return m, nil
		}
		g.dropped.Add(1)
	}
}

// readFromPeer reads one datagram, dropping any whose source is not the
// BMC (a connected UDP socket already filters them; this says so in code).
func (g *guardConn) readFromPeer(p []byte) (int, error) {
	if g.udp == nil {
		return g.Conn.Read(p)
	}
	for {
		n, from, err := g.udp.ReadFromUDPAddrPort(p)
		if err != nil || from == g.peer || (from.Addr().Unmap() == g.peer.Addr().Unmap() && from.Port() == g.peer.Port()) {
			return n, err
		}
		g.dropped.Add(1)
	}
}

// accept decides whether go-ipmi may see datagram d, rewriting it in
// place where needed; it returns the length to hand over.
func (g *guardConn) accept(d []byte) (int, bool) {
	typ, pl, ok := rmcpPlus(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !ok {
		// IPMI 1.5 or ASF: only the pre-session Get Channel
		// Authentication Capabilities answer, before any RMCP+ setup.
		return len(d), g.phase == phaseIdle && len(d) > rmcpHeader && d[rmcpHeader] != rmcpPlusAuth
	}
	if pl == nil {
		return 0, false
	}
	switch typ & 0x3f {
	case payloadOpenResp:
		return len(d), typ&0xc0 == 0 && g.acceptOpen(pl)
	case payloadRAKP2:
		return len(d), typ&0xc0 == 0 && g.acceptRAKP2(pl)
	case payloadRAKP4:
		return len(d), typ&0xc0 == 0 && g.acceptRAKP4(pl)
	case payloadIPMI:
		if g.phase != phaseActive || typ&(flagAuthed|flagEncrypted) != flagAuthed|flagEncrypted {
			return 0, false
		}
		return g.open(d, pl)
	}
	return 0, false
}

// acceptOpen checks an Open Session Response: ours, and with exactly the
// configured suite's algorithms. go-ipmi is told "no confidentiality".
func (g *guardConn) acceptOpen(pl []byte) bool {
	// tag, status, privilege, reserved, console ID, BMC ID, then the
	// authentication, integrity and confidentiality payloads (8 bytes
	// each, algorithm in their 5th byte).
	if g.phase != phaseOpenSent || g.gotAnswer || len(pl) < 8 || binary.LittleEndian.Uint32(pl[4:8]) != g.consoleID {
		return false
	}
	if pl[1] != 0 {
		g.gotAnswer = true // a refusal (go-ipmi reports its status code)
		return true
	}
	if len(pl) < 36 {
		return false
	}
	auth, integ, crypt := types.AuthAlg(pl[16]&0x3f), types.IntegrityAlg(pl[24]&0x3f), types.CryptAlg(pl[32]&0x3f)
	if auth != g.wantAuth || integ != g.wantInteg || crypt != types.CryptAlg_AES_CBC_128 {
		g.insecure = fmt.Sprintf("BMC answered Open Session with algorithms auth %d, integrity %d, confidentiality %d; the configured cipher suite needs %d, %d, %d",
			auth, integ, crypt, g.wantAuth, g.wantInteg, types.CryptAlg_AES_CBC_128)
		return false
	}
	g.bmcID = binary.LittleEndian.Uint32(pl[8:12])
	pl[32] = byte(types.CryptAlg_None) // the guard encrypts, not go-ipmi
	g.gotAnswer = true
	return true
}

// acceptRAKP2 checks RAKP 2's key exchange authentication code and
// derives the session keys from it.
func (g *guardConn) acceptRAKP2(pl []byte) bool {
	// tag, status, 2 reserved, console ID, BMC random (16), GUID (16), code.
	if g.phase != phaseRAKP1Sent || g.gotAnswer || len(pl) < 8 || binary.LittleEndian.Uint32(pl[4:8]) != g.consoleID {
		return false
	}
	if pl[1] != 0 {
		g.gotAnswer = true // a refusal, such as an unknown user name
		return true
	}
	if len(pl) < 40 {
		return false
	}
	if err := g.deriveKeys(pl[8:24], pl[24:40], pl[40:]); err != nil {
		g.badRAKP++
		return false
	}
	copy(g.guid[:], pl[24:40])
	g.gotAnswer = true
	return true
}

// acceptRAKP4 checks RAKP 4's integrity check value; the session is
// then up.
func (g *guardConn) acceptRAKP4(pl []byte) bool {
	// tag, status, 2 reserved, console ID, integrity check value.
	if g.phase != phaseRAKP3Sent || g.gotAnswer || len(pl) < 8 || binary.LittleEndian.Uint32(pl[4:8]) != g.consoleID {
		return false
	}
	if pl[1] != 0 {
		g.gotAnswer = true
		return true
	}
	if g.sik == nil || !g.rakp4Valid(pl[8:]) {
		g.badRAKP++
		return false
	}
	g.gotAnswer = true
	g.phase = phaseActive
	return true
}

// freshSeq reports whether seq is new and within the window of IPMI 2.0
// section 6.12.13 (16 behind to 15 ahead of the highest seen), and
// records it.
func (g *guardConn) freshSeq(seq uint32) bool {
	if seq == 0 {
		return false
	}
	if g.seqTop == 0 {
		g.seqTop, g.seqSeen = seq, 1
		return true
	}
	diff := int64(seq) - int64(g.seqTop)
	switch {
	case diff > 15 || diff < -16:
		return false
	case diff > 0:
		g.seqSeen = g.seqSeen<<uint(diff) | 1
		g.seqTop = seq
		return true
	}
	bit := uint32(1) << uint(-diff)
	if g.seqSeen&bit != 0 {
		return false // a replay
	}
	g.seqSeen |= bit
	return true
}
