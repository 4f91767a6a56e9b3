package redfishbmc

import (
	"errors"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

// One session serves every role, and 1,000 reconnects of the event
// stream leak none, on a BMC that allows 8: plain drops, sessions the
// BMC expired, and 401s the BMC answered while the session still lived
// (the adapter logs in again and deletes the refused session).
func TestSessionsNoLeakAcross1000Reconnects(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{MaxSessions: 8, Overlays: []string{overlayWatchdogMini}})
	cfg := testConfig(s, "")
	cfg.ReconnectMin, cfg.ReconnectMax = time.Millisecond, time.Millisecond
	cfg.PollInterval = time.Hour
	b := open(t, cfg)
	ctx := ctxT(t, 60*time.Second)
	// Every role of the BMC, through one session.
	if _, err := b.Readings(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.State(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PowerState(ctx); err != nil {
		t.Fatal(err)
	}
	ch, err := b.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range ch {
		}
	}()
	if n := s.Sessions(); n != 1 {
		t.Fatalf("%d sessions for one BMC's roles, want 1", n)
	}
	// Each login is a TLS handshake of its own (the credentials go on a
	// connection of their own): one reconnect in ten logs in.
	const reconnects = 1000
	for i := range reconnects {
		waitFor(t, func() bool { return s.Streams() == 1 })
		switch i % 10 {
		case 0:
			s.ExpireSessions() // the session timed out
		case 5:
			s.Inject(redfishsim.Fault{Path: s.SSEURI(), Status: 401, Times: 1}) // refused, session alive
		}
		connects := s.Count("GET", s.SSEURI())
		s.DropStreams()
		waitFor(t, func() bool { return s.Count("GET", s.SSEURI()) > connects })
		if n := s.Sessions(); n > 1 {
			t.Fatalf("reconnect %d: %d sessions open", i, n)
		}
	}
	waitStreams(t, s, 1)
	ok, refused := s.Logins()
	if n := s.Sessions(); n != 1 || refused != 0 {
		t.Fatalf("after %d reconnects: %d sessions, %d logins refused (of %d)", reconnects, n, refused, ok)
	}
	coll, _ := s.Get("/redfish/v1/SessionService/Sessions")
	if ms, _ := coll["Members"].([]any); len(ms) != 1 {
		t.Fatalf("the SessionService lists %d sessions, want 1", len(ms))
	}
	t.Logf("%d reconnects, %d logins, 1 session open", reconnects, ok)
	if _, err := b.State(ctx); err != nil {
		t.Fatalf("the roles after the reconnects: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.Sessions(); n != 0 {
		t.Fatalf("%d sessions after Close", n)
	}
}

// The sim refuses the 9th session as real BMCs do, and the adapter
// reports it as unreachable (no session), naming the limit.
func TestSessionLimit(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{MaxSessions: 8})
	for range 8 {
		open(t, testConfig(s, ""))
	}
	_, err := Open(ctxT(t, 5*time.Second), testConfig(s, ""))
	if !errors.Is(err, bmc.ErrUnreachable) {
		t.Fatalf("the 9th session: %v, want ErrUnreachable", err)
	}
	if _, refused := s.Logins(); refused != 1 || s.Sessions() != 8 {
		t.Fatalf("%d refused, %d sessions", refused, s.Sessions())
	}
}

// waitFor polls cond briefly (a reconnect takes a millisecond or two).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// The blades of one enclosure share one session (OpenSystem), even on a
// BMC that allows one: relogin after expiry serves both, and the session
// lives until the last adapter closes.
func TestOpenSystemSharesSession(t *testing.T) {
	s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{MaxSessions: 1})
	a := open(t, testConfig(s, bladeSys))
	b, err := a.OpenSystem(ctxT(t, 5*time.Second), blade2Sys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if a.System().ID != bladeSys || b.System().ID != blade2Sys {
		t.Fatalf("systems %s and %s", a.System().ID, b.System().ID)
	}
	ctx := ctxT(t, 10*time.Second)
	for _, x := range []*BMC{a, b} {
		if _, err := x.Readings(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Health(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Sessions(); n != 1 {
		t.Fatalf("%d sessions for two blades, want 1", n)
	}
	s.ExpireSessions()
	for _, x := range []*BMC{b, a} {
		if _, err := x.PowerState(ctx); err != nil {
			t.Fatalf("%s after expiry: %v", x.System().ID, err)
		}
	}
	if ok, refused := s.Logins(); ok != 2 || refused != 0 || s.Sessions() != 1 {
		t.Fatalf("after expiry: %d logins, %d refused, %d sessions; want one relogin for both", ok, refused, s.Sessions())
	}
	if _, err := b.OpenSystem(ctx, "nope"); !errors.Is(err, ErrInvalidConfig) || s.Sessions() != 1 {
		t.Fatalf("unknown system: %v (sessions %d)", err, s.Sessions())
	}
	if err := a.Close(); err != nil || s.Sessions() != 1 {
		t.Fatalf("first Close: %v, %d sessions; the other blade still needs it", err, s.Sessions())
	}
	if _, err := b.Health(ctx); err != nil {
		t.Fatalf("the other blade after the first Close: %v", err)
	}
	if _, err := a.OpenSystem(ctx, blade2Sys); !errors.Is(err, bmc.ErrUnreachable) {
		t.Fatalf("OpenSystem on a closed adapter: %v", err)
	}
	if err := b.Close(); err != nil || s.Sessions() != 0 {
		t.Fatalf("last Close: %v, %d sessions", err, s.Sessions())
	}
}
