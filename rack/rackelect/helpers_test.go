package rackelect_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/rack/rackelect"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// embedded is the one in-process etcd of the test binary; each test
// keeps to a prefix of its own.
var embedded struct{ endpoint string }

func TestMain(m *testing.M) { etcdrig.Main(m, "rackelect", &embedded.endpoint) }

// newPrefix returns a prefix no other test uses.
func newPrefix() string { return etcdrig.Prefix() }

// newClient is a plain etcd client of endpoint, closed at the test's end.
func newClient(t testing.TB, endpoint string) *clientv3.Client { return etcdrig.Client(t, endpoint) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// embeddedTTL: the embedded etcd's shortest lease (1.5 election
// timeouts of 1 s, rounded up).
const embeddedTTL = 2 * time.Second

// newElector is a replica named name on endpoint, closed at the end.
func newElector(t testing.TB, endpoint, prefix, name string, ttl time.Duration) *rackelect.Elector {
	t.Helper()
	cfg := rackelect.DefaultConfig()
	cfg.Client, cfg.Prefix, cfg.Name, cfg.TTL = newClient(t, endpoint), prefix, name, ttl
	cfg.TxnTimeout, cfg.InFlightHold, cfg.Logger = 500*time.Millisecond, 2*time.Second, quiet()
	e, err := rackelect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// campaign runs Campaign in the background.
func campaign(e *rackelect.Elector) <-chan *rackelect.Term {
	ch := make(chan *rackelect.Term, 1)
	go func() {
		t, err := e.Campaign(context.Background())
		if err != nil {
			close(ch)
			return
		}
		ch <- t
	}()
	return ch
}

func mustLead(t *testing.T, ch <-chan *rackelect.Term, within time.Duration, who string) *rackelect.Term {
	t.Helper()
	select {
	case term, ok := <-ch:
		if !ok {
			t.Fatalf("%s: campaign failed", who)
		}
		return term
	case <-time.After(within):
		t.Fatalf("%s does not lead within %v", who, within)
		return nil
	}
}

func mustNotLead(t *testing.T, ch <-chan *rackelect.Term, for_ time.Duration, who string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s leads too", who)
	case <-time.After(for_):
	}
}

// recorder is a simulated BMC's power that counts the commands it got.
type recorder struct {
	*simbmc.BMC
	sent atomic.Int64
}

func newRecorder(t testing.TB, server string) *recorder {
	b, err := simbmc.New(simbmc.DefaultConfig(server))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &recorder{BMC: b}
}

func (r *recorder) SetPower(ctx context.Context, a bmc.PowerAction) error {
	r.sent.Add(1)
	return r.BMC.SetPower(ctx, a)
}

func callCtx(t testing.TB, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within %v: %s", within, what)
}
