package rackelect_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackelect"
)

// TestElectOneLeader: of two candidates exactly one leads, the other
// knows its URL; when the leader closes (its lease revoked) the other
// leads at once.
func TestElectOneLeader(t *testing.T) {
	prefix := newPrefix()
	a := newElector(t, embedded.endpoint, prefix, "https://rm-a:8443", embeddedTTL)
	// The term outlives the context Campaign was given.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	termA, err := a.Campaign(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	b := newElector(t, embedded.endpoint, prefix, "https://rm-b:8443", embeddedTTL)
	bLeads := campaign(b)
	mustNotLead(t, bLeads, 3*embeddedTTL/2, "b")
	if !a.IsLeader() || b.IsLeader() {
		t.Fatalf("IsLeader: a %v, b %v; want a only (1.5 TTL after a's campaign context ended)", a.IsLeader(), b.IsLeader())
	}
	if l, ok := b.Leader(); !ok || l != "https://rm-a:8443" {
		t.Fatalf("b.Leader() = %q, %v; want a's URL", l, ok)
	}
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-termA.Done():
	default:
		t.Error("a's term not done after Close")
	}
	mustLead(t, bLeads, embeddedTTL, "b after a closed")
	t.Logf("failover after the leader closed: %v", time.Since(start).Round(time.Millisecond))
	if l, _ := b.Leader(); l != "https://rm-b:8443" || a.IsLeader() {
		t.Fatalf("after the failover: b.Leader() %q, a.IsLeader %v", l, a.IsLeader())
	}
}

// TestElectDeposedLeaderNeverPowers: a leader partitioned from etcd
// loses its lease and the other replica leads within the TTL. The old
// leader's power actions are refused, first while partitioned (etcd does
// not answer the guard), then after the partition heals (the guard's
// compare fails), and its BMC never gets a command; the new leader's
// power works.
func TestElectDeposedLeaderNeverPowers(t *testing.T) {
	prefix := newPrefix()
	proxy := etcdrig.NewProxy(t, embedded.endpoint)
	a := newElector(t, proxy.Endpoint(), prefix, "https://rm-a:8443", embeddedTTL)
	mustLead(t, campaign(a), 5*time.Second, "a")
	b := newElector(t, embedded.endpoint, prefix, "https://rm-b:8443", embeddedTTL)
	bLeads := campaign(b)
	mustNotLead(t, bLeads, 200*time.Millisecond, "b")

	rec := newRecorder(t, "s2")
	viaA, viaB := a.Guard("s2", rec), b.Guard("s2", rec)
	start := time.Now()
	proxy.Set(etcdrig.LoseRequests)
	mustLead(t, bLeads, embeddedTTL+2*time.Second, "b after a's partition")
	failover := time.Since(start)
	t.Logf("failover after the leader's partition: %v (TTL %v)", failover.Round(time.Millisecond), embeddedTTL)
	if failover > embeddedTTL+time.Second {
		t.Errorf("failover took %v, want within TTL %v and a second", failover, embeddedTTL)
	}

	err := viaA.SetPower(callCtx(t, 5*time.Second), bmc.PowerActionOff)
	if !errors.Is(err, rack.ErrNotLeader) || errors.Is(err, bmc.ErrIndeterminate) {
		t.Errorf("deposed, partitioned a powers off: %v; want not leader, not indeterminate", err)
	}
	proxy.Cut(etcdrig.Pass)
	err = viaA.SetPower(callCtx(t, 5*time.Second), bmc.PowerActionOff)
	if !errors.Is(err, rack.ErrNotLeader) || errors.Is(err, bmc.ErrIndeterminate) {
		t.Errorf("deposed a, partition healed, powers off: %v; want not leader", err)
	}
	if n := rec.sent.Load(); n != 0 || rec.HostPower() != bmc.PowerOn {
		t.Fatalf("the BMC got %d commands from the deposed leader (host %v)", n, rec.HostPower())
	}
	if err := viaB.SetPower(callCtx(t, 5*time.Second), bmc.PowerActionOff); err != nil {
		t.Fatalf("new leader b powers off: %v", err)
	}
	if n := rec.sent.Load(); n != 1 || rec.HostPower() != bmc.PowerOff {
		t.Fatalf("after b's fence: %d commands, host %v", n, rec.HostPower())
	}
	intents, err := b.Intents(callCtx(t, 5*time.Second))
	if err != nil || len(intents) != 1 || intents[0].Leader != "https://rm-b:8443" || intents[0].State != rackelect.IntentConfirmed || intents[0].Action != "off" {
		t.Fatalf("intents %+v, %v; want b's confirmed off", intents, err)
	}
}

// TestElectPowerLostMidCall: the leadership ends while the BMC command
// runs (the key is deleted, as when the lease expires; then etcd
// unreachable at the outcome): the answer is indeterminate even though
// the BMC confirmed.
func TestElectPowerLostMidCall(t *testing.T) {
	t.Run("key gone", func(t *testing.T) {
		prefix := newPrefix()
		a := newElector(t, embedded.endpoint, prefix, "https://rm-a:8443", embeddedTTL)
		term := mustLead(t, campaign(a), 5*time.Second, "a")
		b := newElector(t, embedded.endpoint, prefix, "https://rm-b:8443", embeddedTTL)
		bLeads := campaign(b)
		admin := newClient(t, embedded.endpoint)
		rec := newRecorder(t, "s1")
		err := a.Guarded(callCtx(t, 5*time.Second), "s1", bmc.PowerActionOff, func(ctx context.Context) error {
			if _, err := admin.Delete(ctx, term.Key); err != nil {
				return err
			}
			mustLead(t, bLeads, 5*time.Second, "b")
			return rec.SetPower(ctx, bmc.PowerActionOff)
		})
		if !errors.Is(err, bmc.ErrIndeterminate) {
			t.Fatalf("power with the leadership lost mid-call: %v; want indeterminate", err)
		}
		if rec.sent.Load() != 1 {
			t.Fatalf("%d commands sent, want 1", rec.sent.Load())
		}
		waitUntil(t, time.Second, "a's term ends", func() bool { return !a.IsLeader() })
	})
	t.Run("etcd unreachable", func(t *testing.T) {
		proxy := etcdrig.NewProxy(t, embedded.endpoint)
		a := newElector(t, proxy.Endpoint(), newPrefix(), "https://rm-a:8443", embeddedTTL)
		mustLead(t, campaign(a), 5*time.Second, "a")
		err := a.Guarded(callCtx(t, 5*time.Second), "s1", bmc.PowerActionOff, func(ctx context.Context) error {
			proxy.Set(etcdrig.LoseRequests)
			return nil
		})
		if !errors.Is(err, bmc.ErrIndeterminate) {
			t.Fatalf("power with etcd lost mid-call: %v; want indeterminate", err)
		}
	})
}

// TestElectHoldsForAnEarlierLeadersCommand: a leader dies after its
// intent and before its outcome; the new leader holds that server's
// power for InFlightHold after it won (2 s here), and only that
// server's.
func TestElectHoldsForAnEarlierLeadersCommand(t *testing.T) {
	prefix := newPrefix()
	a := newElector(t, embedded.endpoint, prefix, "https://rm-a:8443", embeddedTTL)
	term := mustLead(t, campaign(a), 5*time.Second, "a")
	admin := newClient(t, embedded.endpoint)
	// a sends and never hears back: it is gone (its key deleted, as its
	// lease would expire) with its intent still pending.
	sending := make(chan struct{})
	gone, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.Guarded(gone, "s1", bmc.PowerActionOn, func(ctx context.Context) error {
		close(sending)
		<-ctx.Done()
		return ctx.Err()
	})
	<-sending
	if _, err := admin.Delete(context.Background(), term.Key); err != nil {
		t.Fatal(err)
	}
	b := newElector(t, embedded.endpoint, prefix, "https://rm-b:8443", embeddedTTL)
	mustLead(t, campaign(b), 5*time.Second, "b")
	won := time.Now()
	s1, s2 := newRecorder(t, "s1"), newRecorder(t, "s2")
	err := b.Guard("s1", s1).SetPower(callCtx(t, 300*time.Millisecond), bmc.PowerActionOff)
	if !errors.Is(err, rackelect.ErrHeld) || s1.sent.Load() != 0 {
		t.Fatalf("power on s1 during the hold: %v (%d sent); want held, nothing sent", err, s1.sent.Load())
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, bmc.ErrIndeterminate) {
		t.Errorf("a held action wraps %v: callers would take it for indeterminate", err)
	}
	if err := b.Guard("s2", s2).SetPower(callCtx(t, 5*time.Second), bmc.PowerActionOff); err != nil {
		t.Fatalf("s2 (no pending intent): %v", err)
	}
	if time.Since(won) > time.Second {
		t.Errorf("s2 waited %v: the hold is s1's only", time.Since(won))
	}
	if err := b.Guard("s1", s1).SetPower(callCtx(t, 5*time.Second), bmc.PowerActionOff); err != nil {
		t.Fatalf("s1 after the hold: %v", err)
	}
	if held := time.Since(won); held < 2*time.Second-50*time.Millisecond {
		t.Errorf("s1 powered %v after b won, before the 2s hold", held)
	}
	if s1.HostPower() != bmc.PowerOff {
		t.Errorf("s1 %v", s1.HostPower())
	}
}

// TestElectNeverElectedRefuses: a replica that never led powers nothing.
func TestElectNeverElectedRefuses(t *testing.T) {
	a := newElector(t, embedded.endpoint, newPrefix(), "https://rm-a:8443", embeddedTTL)
	rec := newRecorder(t, "s1")
	err := a.Guard("s1", rec).SetPower(callCtx(t, time.Second), bmc.PowerActionOff)
	if !errors.Is(err, rack.ErrNotLeader) || rec.sent.Load() != 0 {
		t.Fatalf("%v, %d sent", err, rec.sent.Load())
	}
}

// TestElectExternalEtcd: against Debian's etcd-server (TTL 1 s): the
// leader's partition moves the leadership; etcd killed and started again
// leaves exactly one replica able to power.
func TestElectExternalEtcd(t *testing.T) {
	x := etcdrig.StartExternal(t)
	prefix := newPrefix()
	proxy := etcdrig.NewProxy(t, x.Endpoint)
	a := newElector(t, proxy.Endpoint(), prefix, "https://rm-a:8443", time.Second)
	mustLead(t, campaign(a), 5*time.Second, "a")
	b := newElector(t, x.Endpoint, prefix, "https://rm-b:8443", time.Second)
	bLeads := campaign(b)
	start := time.Now()
	proxy.Set(etcdrig.LoseRequests)
	termB := mustLead(t, bLeads, 3*time.Second, "b")
	t.Logf("failover after the leader's partition: %v (TTL 1s)", time.Since(start).Round(time.Millisecond))
	proxy.Cut(etcdrig.Pass)
	rec := newRecorder(t, "s1")
	if err := a.Guard("s1", rec).SetPower(callCtx(t, 5*time.Second), bmc.PowerActionOff); !errors.Is(err, rack.ErrNotLeader) {
		t.Fatalf("deposed a: %v", err)
	}

	x.Kill()
	x.Start()
	// b's session may or may not have outlived the restart; whoever
	// leads now powers, the other is refused.
	aLeads := campaign(a)
	var leader, other *rackelect.Elector
	select {
	case <-termB.Done():
		t.Log("b's session ended with etcd's restart")
		bLeads = campaign(b)
		select {
		case <-aLeads:
			leader, other = a, b
		case <-bLeads:
			leader, other = b, a
		case <-time.After(10 * time.Second):
			t.Fatal("nobody leads 10s after etcd's restart")
		}
	case <-time.After(1500 * time.Millisecond):
		leader, other = b, a
	}
	waitUntil(t, 5*time.Second, "one leader", func() bool { return leader.IsLeader() && !other.IsLeader() })
	if err := other.Guard("s1", rec).SetPower(callCtx(t, 5*time.Second), bmc.PowerActionOff); !errors.Is(err, rack.ErrNotLeader) {
		t.Fatalf("follower after etcd's restart: %v", err)
	}
	if err := leader.Guard("s1", rec).SetPower(callCtx(t, 5*time.Second), bmc.PowerActionOff); err != nil {
		t.Fatalf("leader after etcd's restart: %v", err)
	}
	if rec.sent.Load() != 1 {
		t.Fatalf("%d commands, want the leader's 1", rec.sent.Load())
	}
}

func TestConfigValidate(t *testing.T) {
	c := newClient(t, embedded.endpoint)
	for _, tc := range []struct {
		mod  func(*rackelect.Config)
		want string
	}{
		{func(c *rackelect.Config) { c.Client = nil }, "Client is nil"},
		{func(c *rackelect.Config) { c.Name = "" }, "Name is empty"},
		{func(c *rackelect.Config) { c.Prefix = "/x" }, `Prefix "/x"`},
		{func(c *rackelect.Config) { c.TTL = 1500 * time.Millisecond }, "TTL 1.5s"},
		{func(c *rackelect.Config) { c.TxnTimeout = -1 }, "TxnTimeout"},
		{func(c *rackelect.Config) { c.InFlightHold = -1 }, "InFlightHold"},
	} {
		cfg := rackelect.DefaultConfig()
		cfg.Client, cfg.Name = c, "https://rm:1"
		tc.mod(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, rack.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v; want %q", err, tc.want)
		}
	}
}
