package ipmibmc

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	gobmc "github.com/bougou/go-ipmi/pkg/bmc"
	"github.com/bougou/go-ipmi/pkg/clock"
	"github.com/bougou/go-ipmi/pkg/hal/mock"
	"github.com/bougou/go-ipmi/pkg/server"
	"github.com/bougou/go-ipmi/pkg/transport/udp"

	"github.com/rackha/failover/bmc"
)

// forged is an encrypted, authenticated IPMI answer of the right shape
// for go-ipmi's session (console ID 0xa0a1a2a3) whose ciphertext and
// integrity code are not the BMC's. Without the guard, go-ipmi v0.9.1
// decrypts it and panics on its pad length most of the time.
func forged() []byte {
	d := []byte{0x06, 0x00, 0xff, 0x07, 0x06, 0xc0, 0xa3, 0xa2, 0xa1, 0xa0, 9, 0, 0, 0, 32, 0}
	for i := range 32 {
		d = append(d, byte(0xf0+i)) // last plaintext byte decrypts to anything
	}
	d = append(d, 0xff, 0xff, 0x02, 0x07) // integrity pad, pad length, next header
	return append(d, make([]byte, 12)...) // a wrong HMAC-SHA1-96 code
}

// TestGuardDropsForgedAnswers: with the session's integrity key derived,
// forged datagrams are dropped before go-ipmi decrypts them, and the
// adapter keeps working.
func TestGuardDropsForgedAnswers(t *testing.T) {
	_, p, b := lossyAdapter(t)
	g := b.s.guard.last.Load()
	if g == nil || !g.verifying() {
		t.Fatal("integrity codes not verified after the session opened")
	}
	for range 20 {
		p.inject(t, forged())
	}
	for range 3 {
		if _, err := b.PowerState(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if g.dropped.Load() < 20 {
		t.Errorf("%d datagrams dropped, 20 forged", g.dropped.Load())
	}
	if b.s.guard.last.Load() != g {
		t.Error("a new session was needed: the forged answers disturbed the old one")
	}
}

// goipmiServer starts go-ipmi's own BMC server on loopback (user admin,
// password s3cret-17; it offers cipher suite 17, which ipmi_sim does not)
// and returns its port.
func goipmiServer(t *testing.T) int {
	t.Helper()
	info := gobmc.DeviceInfo{DeviceID: 1, IPMIVersion: 0x20, ManufacturerID: 0x000157, ProductID: 1}
	var guid [16]byte
	for i := range guid {
		guid[i] = byte(0x10 + i)
	}
	srvBMC := gobmc.New(info, guid, mock.New(), gobmc.WithClock(clock.Real))
	u, err := srvBMC.Users.Add(2, "admin")
	if err != nil {
		t.Fatal(err)
	}
	u.SetPassword([]byte("s3cret-17"))
	u.Enabled = true
	u.ChannelAccess[1] = gobmc.UserChannelAccess{MaxPrivilege: gobmc.PrivilegeLevelAdministrator, Enabled: true}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	srv := server.NewServer(srvBMC, udp.Wrap(pc))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = srv.Serve(ctx) }()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// TestCipherSuite17: the default suite (RAKP-HMAC-SHA256, HMAC-SHA256-128,
// AES-CBC-128) against go-ipmi's own BMC server on loopback, with
// integrity codes verified by the guard.
func TestCipherSuite17(t *testing.T) {
	port := goipmiServer(t)
	cfg := DefaultConfig("127.0.0.1", "admin", "s3cret-17") // cipher suite 17
	cfg.Port = port
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := b.PowerState(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatalf("PowerState over suite 17: %v", err)
	}
	if st == bmc.PowerUnknown {
		t.Errorf("power %v", st)
	}
	g := b.s.guard.last.Load()
	if g == nil || !g.verifying() || g.codeLen != 16 {
		t.Fatalf("suite 17 integrity (HMAC-SHA256-128) not verified: %+v", g != nil && g.verifying())
	}
	if n := g.dropped.Load(); n != 0 {
		t.Errorf("%d genuine datagrams dropped", n)
	}
	// A wrong password is refused as such.
	cfg.Password = "wrong-" + strconv.Itoa(cfg.Port)
	bad, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.PowerState(ctxT(t, 5*time.Second)); err == nil {
		t.Error("wrong password accepted")
	}
}
