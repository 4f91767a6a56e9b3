package ipmibmc

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"net"
	"sync"
	"sync/atomic"

	"github.com/bougou/go-ipmi/pkg/crypto"
	"github.com/bougou/go-ipmi/pkg/types"
)

// go-ipmi v0.9.1 decrypts RMCP+ datagrams before checking their integrity
// code, and panics, in a goroutine of its own (so the whole process dies),
// on an encrypted payload shorter than its IV or whose plaintext pad
// length exceeds it: a forged datagram, a corrupted one, or a late answer
// of a session this adapter dropped reaching the new socket crashes it.
// It also takes the first datagram that arrives during session setup as
// the setup answer. (It sends the same console session ID, 0xa0a1a2a3, in
// every session, so the ID does not tell sessions apart.)
//
// guardConn sits under go-ipmi (as its UDP "proxy" dialer) and follows
// the session setup it writes and reads: from the Open Session response
// (algorithms), RAKP 1 (console random, role, user name) and RAKP 2 (BMC
// random) it derives the session integrity key K1 with go-ipmi's own
// crypto, exactly as go-ipmi does, and from then on passes an IPMI
// datagram only if its integrity code verifies. Before the keys exist it
// drops IPMI datagrams (none can belong to a session not yet open), and
// encrypted payloads that are not an IV plus whole AES blocks.

// guardDialer dials UDP and wraps the connection in a guardConn.
type guardDialer struct {
	password string                    // for Kuid, as go-ipmi uses it; never printed
	last     atomic.Pointer[guardConn] // the latest connection, for tests
}

func (d *guardDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	g := &guardConn{Conn: c, password: d.password}
	d.last.Store(g)
	return g, nil
}

// GoString keeps the password out of %#v.
func (d *guardDialer) GoString() string { return "ipmibmc.guardDialer{}" }

// verifying reports whether integrity codes are being checked.
func (g *guardConn) verifying() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.k1 != nil
}

// guardConn follows go-ipmi's session setup and filters what it reads.
type guardConn struct {
	net.Conn
	password string

	mu       sync.Mutex
	setup    bool // between Open Session Request and the session's first request
	authAlg  types.AuthAlg
	integAlg types.IntegrityAlg
	rc       []byte // console random (RAKP 1)
	role     uint8
	user     string
	k1       []byte    // integrity key, once RAKP 2 was seen
	codeLen  int       // integrity code length
	mac      hash.Hash // HMAC keyed with k1, reused; nil: go-ipmi computes the code
	sum      []byte

	dropped atomic.Int64
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
	sessHeader      = rmcpHeader + 12
)

// rmcpPlus returns the payload type and payload of an RMCP+ packet.
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

func (g *guardConn) Write(p []byte) (int, error) {
	if typ, pl, ok := rmcpPlus(p); ok {
		g.mu.Lock()
		switch typ & 0x3f {
		case payloadOpenReq:
			g.setup, g.k1, g.rc = true, nil, nil
		case payloadRAKP1:
			// tag, 3 reserved, BMC session ID, console random (16), role,
			// 2 reserved, user name length, user name.
			if len(pl) >= 28 && len(pl) >= 28+int(pl[27]) {
				g.rc = append([]byte(nil), pl[8:24]...)
				g.role = pl[24]
				g.user = string(pl[28 : 28+int(pl[27])])
			}
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

// learn takes the algorithms and the BMC random from setup answers.
func (g *guardConn) learn(typ uint8, pl []byte) {
	switch typ & 0x3f {
	case payloadOpenResp:
		// tag, status, privilege, reserved, console ID, BMC ID, then the
		// authentication, integrity and confidentiality payloads (8 bytes
		// each, algorithm in their 5th byte).
		if len(pl) >= 36 && pl[1] == 0 {
			g.authAlg = types.AuthAlg(pl[16] & 0x3f)
			g.integAlg = types.IntegrityAlg(pl[24] & 0x3f)
		}
	case payloadRAKP2:
		// tag, status, 2 reserved, console ID, BMC random (16), GUID, code.
		if len(pl) < 24 || pl[1] != 0 || g.rc == nil {
			return
		}
		sik, err := crypto.DeriveSIK(g.authAlg, g.rc, pl[8:24], g.role, g.user, crypto.PadPassword20([]byte(g.password)))
		if err != nil {
			return
		}
		k1, err := crypto.DeriveK1(g.authAlg, sik)
		if err != nil {
			return
		}
		code, err := crypto.SessionIntegrityAuthCode(g.integAlg, nil, k1, g.password)
		if err != nil || len(code) == 0 {
			return // no integrity: only the shape checks apply
		}
		g.k1, g.codeLen, g.mac = k1, len(code), nil
		switch g.integAlg {
		case types.IntegrityAlg_HMAC_SHA1_96:
			g.mac = hmac.New(sha1.New, k1)
		case types.IntegrityAlg_HMAC_SHA256_128:
			g.mac = hmac.New(sha256.New, k1)
		case types.IntegrityAlg_HMAC_MD5_128:
			g.mac = hmac.New(md5.New, k1)
		}
	}
}

// accept reports whether go-ipmi may see datagram d.
func (g *guardConn) accept(d []byte) bool {
	typ, pl, ok := rmcpPlus(d)
	if !ok {
		// Not RMCP+ (ASF, IPMI 1.5), which go-ipmi parses safely, or a
		// truncated RMCP+ header.
		return len(d) <= rmcpHeader || d[rmcpHeader] != rmcpPlusAuth
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if typ&0x3f != payloadIPMI {
		g.learn(typ, pl)
		return true // session setup answers: not encrypted
	}
	if g.setup || pl == nil {
		return false // no IPMI answer can belong to a session not yet open
	}
	if typ&0x80 != 0 && (len(pl) < 32 || len(pl)%16 != 0) {
		return false // encrypted: IV and at least one AES block
	}
	if g.k1 == nil {
		return true
	}
	// Integrity code over auth type .. next header (IPMI 2.0 13.28.4).
	if typ&0x40 == 0 || len(d) < rmcpHeader+g.codeLen {
		return false
	}
	end := len(d) - g.codeLen
	if g.mac == nil {
		want, err := crypto.SessionIntegrityAuthCode(g.integAlg, d[rmcpHeader:end], g.k1, g.password)
		return err == nil && hmac.Equal(want, d[end:])
	}
	g.mac.Reset()
	g.mac.Write(d[rmcpHeader:end])
	g.sum = g.mac.Sum(g.sum[:0])
	return hmac.Equal(g.sum[:g.codeLen], d[end:])
}
