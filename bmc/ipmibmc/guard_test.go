package ipmibmc

import "testing"

// rmcpPlus builds an RMCP+ packet of payload type typ with payload p.
func mkRMCPPlus(typ uint8, p []byte) []byte {
	d := []byte{0x06, 0x00, 0xff, 0x07, 0x06, typ, 0xa3, 0xa2, 0xa1, 0xa0, 1, 0, 0, 0, byte(len(p)), byte(len(p) >> 8)}
	return append(d, p...)
}

func TestGuardAccept(t *testing.T) {
	block := make([]byte, 32) // IV + one AES block
	tests := []struct {
		name  string
		setup bool
		d     []byte
		want  bool
	}{
		{"IPMI 1.5 packet", false, []byte{0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0}, true},
		{"ASF pong", false, []byte{0x06, 0x00, 0xff, 0x06, 0, 0, 0x11, 0xbe}, true},
		{"truncated RMCP+ header", false, []byte{0x06, 0x00, 0xff, 0x07, 0x06, 0xc0}, false},
		{"encrypted IPMI answer", false, mkRMCPPlus(0xc0, block), true},
		{"encrypted, empty payload", false, mkRMCPPlus(0xc0, nil), false},
		{"encrypted, IV only", false, mkRMCPPlus(0xc0, block[:16]), false},
		{"encrypted, not whole blocks", false, mkRMCPPlus(0xc0, make([]byte, 40)), false},
		{"encrypted, length beyond datagram", false, append(mkRMCPPlus(0xc0, block)[:sessHeader], block[:20]...), false},
		{"unencrypted IPMI answer", false, mkRMCPPlus(0x40, []byte{0x81, 0x1c, 0x63}), true},
		{"IPMI answer during setup", true, mkRMCPPlus(0xc0, block), false},
		{"RAKP 2 during setup", true, mkRMCPPlus(0x13, make([]byte, 40)), true},
	}
	for _, tc := range tests {
		g := &guardConn{setup: tc.setup}
		if got := g.accept(tc.d); got != tc.want {
			t.Errorf("%s: accept = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func FuzzGuardAccept(f *testing.F) {
	f.Add(mkRMCPPlus(0xc0, make([]byte, 32)), false)
	f.Add(mkRMCPPlus(0x13, make([]byte, 40)), true)
	f.Fuzz(func(t *testing.T, d []byte, setup bool) {
		g := &guardConn{setup: setup}
		if !g.accept(d) {
			return
		}
		// What passes is either not RMCP+, or an RMCP+ packet whose
		// encrypted IPMI payload go-ipmi can slice: IV plus whole blocks.
		if typ, pl, ok := rmcpPlus(d); ok && typ&0x3f == payloadIPMI && typ&0x80 != 0 {
			if setup || len(pl) < 32 || len(pl)%16 != 0 {
				t.Fatalf("accepted % x", d)
			}
		}
	})
}
