package ipmibmc

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"net"
	"testing"

	"github.com/bougou/go-ipmi/pkg/crypto"
	"github.com/bougou/go-ipmi/pkg/types"
)

// The sequence fuzz target runs one guard through a whole session (setup
// as go-ipmi writes it, genuine answers as a BMC with the password gives
// them) and lets the fuzzer slip datagrams in between: raw bytes, genuine
// datagrams with one byte changed, replays of genuine ones, and requests.
// Whatever the order, the guard must not panic, must never pass a
// datagram the BMC did not send for this session in its current step,
// must not change its keys once set, and must keep passing the genuine
// answers (decrypted to what the BMC sent) unless the fuzzer got there
// first during the unauthenticated part of the setup.

const fuzzPassword = "fuzz-Pw-1"

// fakeConn records what the guard writes.
type fakeConn struct {
	net.Conn
	wrote [][]byte
}

func (f *fakeConn) Write(p []byte) (int, error) {
	f.wrote = append(f.wrote, append([]byte(nil), p...))
	return len(p), nil
}

// session steps: before each, the fuzzer's chunks for that step run.
const (
	stepOpenReq = iota
	stepOpenResp
	stepRAKP1
	stepRAKP2
	stepRAKP3
	stepRAKP4
	stepAnswers
	steps
)

type fuzzBMC struct {
	t       *testing.T
	g       *guardConn
	f       *fakeConn
	genuine [][]byte // genuine answers handed so far, for replays and mutations
	consoleID,
	bmcID uint32
	rc, bmcRand, guid [16]byte
	sik               []byte
	seq               uint32
	seal              *guardConn // the BMC's side of the keys
}

func rmcpPlusDatagram(typ uint8, sid, seq uint32, pl []byte) []byte {
	d := []byte{0x06, 0x00, 0xff, 0x07, 0x06, typ, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(d[6:], sid)
	binary.LittleEndian.PutUint32(d[10:], seq)
	binary.LittleEndian.PutUint16(d[14:], uint16(len(pl)))
	return append(d, pl...)
}

func algPayloads(auth, integ, crypt byte) []byte {
	return []byte{0, 0, 0, 8, auth, 0, 0, 0, 1, 0, 0, 8, integ, 0, 0, 0, 2, 0, 0, 8, crypt, 0, 0, 0}
}

// request is what go-ipmi writes in step s.
func (b *fuzzBMC) request(s int) []byte {
	switch s {
	case stepOpenReq:
		pl := append([]byte{0, 0, 0, 0, 0xa3, 0xa2, 0xa1, 0xa0}, algPayloads(1, 1, 1)...)
		return rmcpPlusDatagram(payloadOpenReq, 0, 0, pl)
	case stepRAKP1:
		pl := make([]byte, 28, 33)
		binary.LittleEndian.PutUint32(pl[4:], b.bmcID)
		copy(pl[8:24], b.rc[:])
		pl[24], pl[27] = 0x14, 5
		return rmcpPlusDatagram(payloadRAKP1, 0, 0, append(pl, "admin"...))
	case stepRAKP3:
		pl := make([]byte, 28)
		binary.LittleEndian.PutUint32(pl[4:], b.bmcID)
		return rmcpPlusDatagram(payloadRAKP3, 0, 0, pl)
	}
	return nil
}

// answer is the BMC's genuine answer in step s (n-th for stepAnswers).
func (b *fuzzBMC) answer(s, n int) (d, plain []byte) {
	switch s {
	case stepOpenResp:
		pl := make([]byte, 12, 36)
		binary.LittleEndian.PutUint32(pl[4:], b.consoleID)
		binary.LittleEndian.PutUint32(pl[8:], b.bmcID)
		return rmcpPlusDatagram(payloadOpenResp, 0, 0, append(pl, algPayloads(1, 1, 1)...)), nil
	case stepRAKP2:
		kuid := crypto.PadPassword20([]byte(fuzzPassword))
		full, _ := crypto.RAKP2AuthCode(types.AuthAlg_HMAC_SHA1, b.consoleID, b.bmcID, b.rc[:], b.bmcRand[:], b.guid[:], 0x14, "admin", kuid)
		code, _ := crypto.TruncateRAKP2AuthCode(types.AuthAlg_HMAC_SHA1, full)
		pl := make([]byte, 8, 60)
		binary.LittleEndian.PutUint32(pl[4:], b.consoleID)
		pl = append(append(append(pl, b.bmcRand[:]...), b.guid[:]...), code...)
		return rmcpPlusDatagram(payloadRAKP2, 0, 0, pl), nil
	case stepRAKP4:
		icv, _ := crypto.RAKP4ICV(types.AuthAlg_HMAC_SHA1, b.rc[:], b.bmcID, b.guid[:], b.sik)
		pl := make([]byte, 8, 20)
		binary.LittleEndian.PutUint32(pl[4:], b.consoleID)
		return rmcpPlusDatagram(payloadRAKP4, 0, 0, append(pl, icv...)), nil
	case stepAnswers:
		// An IPMI answer of n+1 data bytes (lengths cross AES block edges).
		plain = []byte{0x81, 0x04, 0x7b, 0x20, byte(n << 2), 0x01, 0x00}
		for i := range n % 20 {
			plain = append(plain, byte(i))
		}
		b.seq++
		out, err := b.seal.seal(rmcpPlusDatagram(0x40, b.consoleID, b.seq, plain), 0x40, plain)
		if err != nil {
			b.t.Fatal(err)
		}
		return append([]byte(nil), out...), plain
	}
	return nil, nil
}

func newFuzzBMC(t *testing.T) *fuzzBMC {
	f := &fakeConn{}
	b := &fuzzBMC{t: t, f: f, bmcID: 0x11223344,
		g: &guardConn{Conn: f, password: newSecret(fuzzPassword), wantAuth: types.AuthAlg_HMAC_SHA1, wantInteg: types.IntegrityAlg_HMAC_SHA1_96}}
	for i := range 16 {
		b.rc[i], b.bmcRand[i], b.guid[i] = byte(i), byte(0x40+i), byte(0x80+i)
	}
	return b
}

// deliver hands d to the guard and reports whether it passed.
func (b *fuzzBMC) deliver(d []byte) ([]byte, bool) {
	d = append(make([]byte, 0, recvBuffer), d...)
	n, ok := b.g.accept(d)
	return d[:n], ok
}

// step carries out genuine step s: go-ipmi's request, or the BMC's
// answers, which must pass.
func (b *fuzzBMC) step(s int) {
	t := b.t
	t.Helper()
	switch s {
	case stepOpenReq, stepRAKP1, stepRAKP3:
		if _, err := b.g.Write(b.request(s)); err != nil {
			t.Fatalf("step %d: genuine request refused: %v", s, err)
		}
		if s == stepOpenReq {
			b.consoleID = binary.LittleEndian.Uint32(b.f.wrote[len(b.f.wrote)-1][sessHeader+4:])
		}
	case stepRAKP2:
		kuid := crypto.PadPassword20([]byte(fuzzPassword))
		b.sik, _ = crypto.DeriveSIK(types.AuthAlg_HMAC_SHA1, b.rc[:], b.bmcRand[:], 0x14, "admin", kuid)
		k1, _ := crypto.DeriveK1(types.AuthAlg_HMAC_SHA1, b.sik)
		k2, _ := crypto.DeriveK2(types.AuthAlg_HMAC_SHA1, b.sik)
		blk, _ := aes.NewCipher(k2[:16])
		b.seal = &guardConn{mac: hmac.New(sha1.New, k1), block: blk, codeLen: 12}
		fallthrough
	case stepOpenResp, stepRAKP4:
		d, _ := b.answer(s, 0)
		if _, ok := b.deliver(d); !ok {
			t.Fatalf("step %d: genuine setup answer dropped", s)
		}
		b.genuine = append(b.genuine, d)
	case stepAnswers:
		for n := range 40 {
			d, plain := b.answer(s, n)
			got, ok := b.deliver(d)
			if !ok {
				t.Fatalf("genuine answer %d dropped", n)
			}
			if !bytes.Equal(got[sessHeader:], plain) || got[rmcpHeader+1] != payloadIPMI {
				t.Fatalf("answer %d decrypted to % x, BMC sent % x", n, got[sessHeader:], plain)
			}
			b.genuine = append(b.genuine, d)
		}
	}
}

func FuzzGuardSequence(f *testing.F) {
	// Chunks: step (low 3 bits), kind (bits 4-5: raw, mutated genuine,
	// replay, request), then a length byte and the bytes.
	chunk := func(step, kind byte, d []byte) []byte {
		return append([]byte{step | kind<<4, byte(len(d))}, d...)
	}
	cat := func(cs ...[]byte) []byte { return bytes.Join(cs, nil) }
	f.Add([]byte{})
	f.Add(cat(chunk(stepAnswers, 0, ipmi15ChassisAnswer(1)), chunk(stepAnswers, 0, ipmi15ChassisAnswer(2))))
	f.Add(cat(chunk(stepOpenResp, 0, forgedOpenResponse(make([]byte, 40))), chunk(stepRAKP2, 0, forgedRAKP2([]byte{0xa3, 0xa2, 0xa1, 0xa0}))))
	f.Add(cat(chunk(stepAnswers, 0, forged()), chunk(stepAnswers, 0, mkRMCPPlus(0x40, []byte{0x81, 0x1c, 0x63}))))
	f.Add(cat(chunk(stepAnswers, 2, []byte{0}), chunk(stepAnswers, 2, []byte{5})))
	f.Add(cat(chunk(stepAnswers, 1, []byte{3, 20}), chunk(stepAnswers, 1, []byte{7, 40}), chunk(stepRAKP2, 1, []byte{1, 9})))
	f.Add(cat(chunk(stepAnswers, 3, forgedOpenResponse(make([]byte, 40))), chunk(stepRAKP4, 3, mkRMCPPlus(0x00, nil))))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := newFuzzBMC(t)
		at := map[int][][]byte{}
		for len(data) >= 2 {
			n := min(int(data[1]), len(data)-2)
			at[int(data[0]&7)%steps] = append(at[int(data[0]&7)%steps], append([]byte{data[0] >> 4 & 3}, data[2:2+n]...))
			data = data[2+n:]
		}
		disturbed := false // the fuzzer changed the unauthenticated setup
		var mac any
		for s := range steps {
			for _, c := range at[s] {
				kind, d := c[0], c[1:]
				switch kind {
				case 1, 2: // a genuine datagram, changed or replayed
					if len(b.genuine) == 0 || len(d) == 0 {
						continue
					}
					g := append([]byte(nil), b.genuine[int(d[0])%len(b.genuine)]...)
					if kind == 1 {
						if len(d) < 2 {
							continue
						}
						g[int(d[1])%len(g)] ^= 1 << (d[0] % 8)
					}
					d = g
				case 3: // a request
					before := b.g.phase
					_, _ = b.g.Write(d)
					disturbed = disturbed || b.g.phase != before
					continue
				}
				before := b.g.phase
				if _, ok := b.deliver(d); ok {
					if before >= phaseRAKP1Sent && kind != 1 {
						// Setup answers past Open Session are authenticated;
						// session answers too: no raw bytes or replays pass.
						t.Fatalf("step %d: guard passed % x", s, d)
					}
					if before == phaseActive {
						t.Fatalf("step %d: guard passed a changed or replayed session answer % x", s, d)
					}
					disturbed = disturbed || before != phaseIdle
				}
			}
			if mac != nil && any(b.g.mac) != mac {
				t.Fatal("integrity key changed")
			}
			if disturbed || b.g.phase == phaseClosed {
				return // the session is no longer the one the BMC below knows
			}
			b.step(s)
			if s == stepRAKP4 {
				mac = any(b.g.mac)
			}
			if s == stepAnswers {
				// Then the fuzzer's last chunks, replays of these included.
				for _, c := range at[stepAnswers] {
					if c[0] == 2 && len(c) > 1 {
						if _, ok := b.deliver(b.genuine[int(c[1])%len(b.genuine)]); ok {
							t.Fatal("a replayed answer passed")
						}
					}
				}
			}
		}
	})
}
