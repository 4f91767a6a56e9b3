package ipmibmc

import (
	"testing"

	"github.com/bougou/go-ipmi/pkg/types"
)

// mkRMCPPlus builds an RMCP+ packet of payload type typ with payload p,
// for console session ID 0xa0a1a2a3 and sequence 1.
func mkRMCPPlus(typ uint8, p []byte) []byte {
	d := []byte{0x06, 0x00, 0xff, 0x07, 0x06, typ, 0xa3, 0xa2, 0xa1, 0xa0, 1, 0, 0, 0, byte(len(p)), byte(len(p) >> 8)}
	return append(d, p...)
}

// TestGuardAcceptByPhase: what passes depends on where the session setup
// is; nothing unauthenticated passes once the session is up.
func TestGuardAcceptByPhase(t *testing.T) {
	block := make([]byte, 32) // IV + one AES block
	ipmi15 := []byte{0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x81, 0x1c, 0x63, 0x20, 0x04, 0x01, 0, 0x01, 0, 0, 0}
	tests := []struct {
		name  string
		phase phase
		d     []byte
		want  bool
	}{
		{"IPMI 1.5 answer before setup", phaseIdle, ipmi15, true},
		{"IPMI 1.5 answer during setup", phaseRAKP1Sent, ipmi15, false},
		{"IPMI 1.5 answer in a session", phaseActive, ipmi15, false},
		{"ASF pong in a session", phaseActive, []byte{0x06, 0x00, 0xff, 0x06, 0, 0, 0x11, 0xbe}, false},
		{"truncated RMCP+ header", phaseActive, []byte{0x06, 0x00, 0xff, 0x07, 0x06, 0xc0}, false},
		{"encrypted answer before setup", phaseIdle, mkRMCPPlus(0xc0, block), false},
		{"encrypted answer during setup", phaseOpenSent, mkRMCPPlus(0xc0, block), false},
		{"auth none in a session", phaseActive, mkRMCPPlus(0x00, []byte{0x81, 0x1c, 0x63}), false},
		{"authenticated, not encrypted", phaseActive, mkRMCPPlus(0x40, []byte{0x81, 0x1c, 0x63}), false},
		{"encrypted, length beyond datagram", phaseActive, append(mkRMCPPlus(0xc0, block)[:sessHeader], block[:20]...), false},
		{"wrong session ID", phaseActive, mkRMCPPlus(0xc0, block), false},
		{"RAKP 2 unasked", phaseIdle, mkRMCPPlus(payloadRAKP2, make([]byte, 40)), false},
		{"RAKP 2 in a session", phaseActive, mkRMCPPlus(payloadRAKP2, make([]byte, 40)), false},
		{"Open Session Response unasked", phaseRAKP1Sent, mkRMCPPlus(payloadOpenResp, make([]byte, 36)), false},
	}
	for _, tc := range tests {
		g := &guardConn{phase: tc.phase, consoleID: 0x01020304, wantAuth: types.AuthAlg_HMAC_SHA1, wantInteg: types.IntegrityAlg_HMAC_SHA1_96}
		if _, got := g.accept(append([]byte(nil), tc.d...)); got != tc.want {
			t.Errorf("%s: accept = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestGuardSequenceWindow: sequence numbers 16 behind to 15 ahead of the
// highest pass once each; replays and far jumps do not.
func TestGuardSequenceWindow(t *testing.T) {
	g := &guardConn{}
	for _, tc := range []struct {
		seq  uint32
		want bool
	}{
		{0, false}, {5, true}, {5, false}, {6, true}, {4, true}, {4, false}, {21, true}, {37, false},
		{6, false}, {7, true}, {5, false}, {4, false}, {36, true}, {20, true}, {19, false}, {21, false},
	} {
		if got := g.freshSeq(tc.seq); got != tc.want {
			t.Fatalf("seq %d: fresh = %v, want %v (top %d)", tc.seq, got, tc.want, g.seqTop)
		}
	}
}

// TestGuardKeysNeverReset: once the session is up, a second session
// setup on the same connection is refused, the keys stay, and nothing
// passes any more (not even the BMC's answers), so no setup answer can
// lower or clear the integrity check.
func TestGuardKeysNeverReset(t *testing.T) {
	b := newFuzzBMC(t)
	for s := range steps {
		b.step(s)
	}
	mac := b.g.mac
	if _, err := b.g.Write(b.request(stepOpenReq)); err == nil {
		t.Fatal("second Open Session Request written on an active session")
	}
	if b.g.mac != mac || b.g.phase != phaseClosed {
		t.Fatalf("keys or phase changed: phase %d", b.g.phase)
	}
	for _, d := range [][]byte{forgedOpenResponse(make([]byte, 40)), b.genuine[0]} {
		if _, ok := b.deliver(d); ok {
			t.Errorf("passed after a refused setup restart: % x", d)
		}
	}
	if d, _ := b.answer(stepAnswers, 1); func() bool { _, ok := b.deliver(d); return ok }() {
		t.Error("session answers still pass on a closed connection")
	}
}
