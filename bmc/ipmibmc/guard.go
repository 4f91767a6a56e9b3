package ipmibmc

import (
	"net"
	"sync"
	"sync/atomic"
)

// go-ipmi v0.9.1 decrypts RMCP+ datagrams without checking them first and
// panics, in a goroutine of its own (so the whole process dies), on an
// encrypted payload shorter than its IV or whose plaintext pad length
// exceeds it. It also takes the first datagram that arrives during
// session setup as the setup answer, so a late answer of a dropped session
// reaching the new socket crashes it. guardConn sits under go-ipmi (as
// its UDP "proxy" dialer) and drops, before go-ipmi sees them:
//   - encrypted IPMI payloads that cannot be an IV plus whole AES blocks;
//   - IPMI payloads while a session is being set up (Open Session to the
//     first request of the new session), when none can be ours.
//
// A datagram of the right shape whose ciphertext is not the BMC's (forged,
// or another session's arriving on a reused port) can still reach
// go-ipmi's decryption and crash it: go-ipmi sends the same console
// session ID (0xa0a1a2a3) in every session, so the ID does not tell
// sessions apart, and only the integrity code would. That needs a fix in
// go-ipmi (check the pad length, verify integrity before decrypting).

// guardDialer dials UDP and wraps the connection in a guardConn.
type guardDialer struct{}

func (guardDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c}, nil
}

// guardConn follows the session setup go-ipmi writes and filters what it
// reads.
type guardConn struct {
	net.Conn
	mu      sync.Mutex
	setup   bool // between Open Session Request and the session's first request
	dropped atomic.Int64
}

// RMCP+ packet layout (IPMI 2.0 section 13.6): RMCP header (4), auth
// type 0x06 (1), payload type (1), session ID (4), sequence (4), payload
// length (2), payload.
const (
	rmcpHeader     = 4
	rmcpPlusAuth   = 0x06
	payloadIPMI    = 0x00
	payloadOpenReq = 0x10
	sessHeader     = rmcpHeader + 12
)

// rmcpPlusType returns the payload type of an RMCP+ packet.
func rmcpPlusType(p []byte) (uint8, bool) {
	if len(p) < sessHeader || p[rmcpHeader] != rmcpPlusAuth {
		return 0, false
	}
	return p[rmcpHeader+1], true
}

func (g *guardConn) Write(p []byte) (int, error) {
	if typ, ok := rmcpPlusType(p); ok {
		g.mu.Lock()
		switch typ & 0x3f {
		case payloadOpenReq:
			g.setup = true
		case payloadIPMI:
			g.setup = false
		}
		g.mu.Unlock()
	}
	return g.Conn.Write(p)
}

func (g *guardConn) Read(p []byte) (int, error) {
	for {
		n, err := g.Conn.Read(p)
		if err != nil || g.accept(p[:n]) {
			return n, err
		}
		g.dropped.Add(1)
	}
}

// accept reports whether go-ipmi may see datagram d.
func (g *guardConn) accept(d []byte) bool {
	typ, ok := rmcpPlusType(d)
	if !ok {
		// Not RMCP+ (ASF, IPMI 1.5), which go-ipmi parses safely, or a
		// truncated RMCP+ header.
		return len(d) <= rmcpHeader || d[rmcpHeader] != rmcpPlusAuth
	}
	if typ&0x3f != payloadIPMI {
		return true // session setup answers: not encrypted
	}
	g.mu.Lock()
	setup := g.setup
	g.mu.Unlock()
	if setup {
		return false // no IPMI answer can belong to a session not yet open
	}
	if typ&0x80 != 0 { // encrypted: IV and at least one AES block
		n := int(le16(d[rmcpHeader+10:]))
		if n < 32 || n%16 != 0 || sessHeader+n > len(d) {
			return false
		}
	}
	return true
}
