package ipmibmc

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bougou/go-ipmi/pkg/crypto"
	"github.com/bougou/go-ipmi/pkg/types"
)

// The guard's cryptography: session keys (IPMI 2.0 sections 13.31, 13.32)
// from go-ipmi's exported key derivation, and the AES-CBC-128 payload
// (section 13.29) and integrity trailer (section 13.28.4) with the
// standard library.

// deriveKeys checks RAKP 2's code for the BMC random and GUID and, if it
// verifies, sets SIK, K1 and K2; g.mu is held.
func (g *guardConn) deriveKeys(bmcRand, guid, code []byte) error {
	kuid := crypto.PadPassword20([]byte(g.password.reveal()))
	full, err := crypto.RAKP2AuthCode(g.wantAuth, g.consoleID, g.bmcID, g.rc[:], bmcRand, guid, g.role, g.user, kuid)
	if err != nil {
		return err
	}
	want, err := crypto.TruncateRAKP2AuthCode(g.wantAuth, full)
	if err != nil {
		return err
	}
	if len(want) == 0 || !hmac.Equal(want, code) {
		return errors.New("RAKP 2 code does not verify")
	}
	sik, err := crypto.DeriveSIK(g.wantAuth, g.rc[:], bmcRand, g.role, g.user, kuid)
	if err != nil {
		return err
	}
	k1, err := crypto.DeriveK1(g.wantAuth, sik)
	if err != nil {
		return err
	}
	k2, err := crypto.DeriveK2(g.wantAuth, sik)
	if err != nil || len(k2) < 16 {
		return fmt.Errorf("derive K2: %v", err)
	}
	block, err := aes.NewCipher(k2[:16])
	if err != nil {
		return err
	}
	switch g.wantInteg {
	case types.IntegrityAlg_HMAC_SHA1_96:
		g.mac, g.codeLen = hmac.New(sha1.New, k1), 12
	case types.IntegrityAlg_HMAC_SHA256_128:
		g.mac, g.codeLen = hmac.New(sha256.New, k1), 16
	case types.IntegrityAlg_HMAC_MD5_128:
		g.mac, g.codeLen = hmac.New(md5.New, k1), 16
	default:
		return fmt.Errorf("integrity algorithm %d not supported", g.wantInteg)
	}
	g.sik, g.block = sik, block
	return nil
}

// rakp4Valid checks RAKP 4's integrity check value; g.mu is held.
func (g *guardConn) rakp4Valid(icv []byte) bool {
	want, err := crypto.RAKP4ICV(g.wantAuth, g.rc[:], g.bmcID, g.guid[:], g.sik)
	return err == nil && len(want) > 0 && hmac.Equal(want, icv)
}

// code computes the integrity code of data into g.sum; g.mu is held.
func (g *guardConn) code(data []byte) []byte {
	g.mac.Reset()
	g.mac.Write(data)
	g.sum = g.mac.Sum(g.sum[:0])
	return g.sum[:g.codeLen]
}

// seal turns go-ipmi's request p (a plaintext IPMI payload pl, since
// go-ipmi believes the session has no confidentiality) into an encrypted
// one with a fresh IV from crypto/rand and a new integrity trailer; the
// result is valid until the next call. g.mu is held.
func (g *guardConn) seal(p []byte, typ uint8, pl []byte) ([]byte, error) {
	if g.mac == nil || g.block == nil {
		return nil, errors.New("ipmibmc: session keys missing")
	}
	padLen := aesBlock - 1 - len(pl)%aesBlock // so that pl, pad and pad length fill whole blocks
	encLen := aesBlock + len(pl) + padLen + 1
	total := sessHeader + encLen
	integPad := (4 - (total-rmcpHeader+2)%4) % 4
	total += integPad + 2 + g.codeLen
	b := g.wbuf[:0]
	if cap(b) < total {
		b = make([]byte, 0, total+64)
	}
	b = append(b, p[:sessHeader]...)
	b[rmcpHeader+1] = typ | flagAuthed | flagEncrypted
	binary.LittleEndian.PutUint16(b[rmcpHeader+10:], uint16(encLen))
	iv := b[sessHeader : sessHeader+aesBlock]
	b = b[:sessHeader+aesBlock]
	_, _ = rand.Read(iv) // never fails (Go 1.24+ crashes instead)
	b = append(b, pl...)
	for i := 1; i <= padLen; i++ {
		b = append(b, byte(i))
	}
	b = append(b, byte(padLen))
	// AES-CBC in place.
	prev := iv
	for off := sessHeader + aesBlock; off < len(b); off += aesBlock {
		blk := b[off : off+aesBlock]
		for i := range blk {
			blk[i] ^= prev[i]
		}
		g.block.Encrypt(blk, blk)
		prev = blk
	}
	for range integPad {
		b = append(b, 0xff)
	}
	b = append(b, byte(integPad), 0x07)
	b = append(b, g.code(b[rmcpHeader:])...)
	g.wbuf = b
	return b, nil
}

// open checks answer d (encrypted, authenticated, payload pl) and turns
// it in place into the plaintext packet go-ipmi expects; it returns the
// new length. g.mu is held.
func (g *guardConn) open(d, pl []byte) (int, bool) {
	if g.mac == nil || g.block == nil || binary.LittleEndian.Uint32(d[rmcpHeader+2:]) != g.consoleID {
		return 0, false // another session's
	}
	if len(pl) < 2*aesBlock || len(pl)%aesBlock != 0 {
		return 0, false
	}
	// Integrity pad, pad length, next header, code: the trailer's length
	// follows from the payload's.
	end := sessHeader + len(pl)
	integPad := (4 - (end-rmcpHeader+2)%4) % 4
	if len(d) != end+integPad+2+g.codeLen || d[end+integPad] != byte(integPad) || d[end+integPad+1] != 0x07 {
		return 0, false
	}
	codeAt := len(d) - g.codeLen
	if !hmac.Equal(g.code(d[rmcpHeader:codeAt]), d[codeAt:]) {
		return 0, false
	}
	if !g.freshSeq(binary.LittleEndian.Uint32(d[rmcpHeader+6:])) {
		return 0, false // a replay, or far out of the window
	}
	// AES-CBC in place, from the last block back, so each block's
	// predecessor is still ciphertext when it is needed.
	for off := len(pl) - aesBlock; off >= aesBlock; off -= aesBlock {
		blk := pl[off : off+aesBlock]
		g.block.Decrypt(blk, blk)
		prev := pl[off-aesBlock : off]
		for i := range blk {
			blk[i] ^= prev[i]
		}
	}
	plain := pl[aesBlock:]
	pad := int(plain[len(plain)-1])
	if pad >= aesBlock || pad+1 > len(plain) {
		return 0, false
	}
	msg := plain[:len(plain)-1-pad]
	n := copy(d[sessHeader:], msg)
	d[rmcpHeader+1] = payloadIPMI // plain, unauthenticated: go-ipmi parses no trailer
	binary.LittleEndian.PutUint16(d[rmcpHeader+10:], uint16(n))
	return sessHeader + n, true
}

// randomSessionID is a non-zero session ID from crypto/rand.
func randomSessionID() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:]) // never fails (Go 1.24+ crashes instead)
		if id := binary.LittleEndian.Uint32(b[:]); id != 0 {
			return id
		}
	}
}
