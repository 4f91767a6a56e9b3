package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rackha/failover"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/etcdstore"
	"github.com/rackha/failover/imagestore/imagestoretest"
	"github.com/rackha/failover/internal/etcdrig"
)

func TestConformanceEmbedded(t *testing.T) {
	imagestoretest.Run(t, imagestoretest.Harness{
		Open: func(t *testing.T) imagestore.Store { return newStore(t, testConfig(embedded.endpoint, newPrefix())) },
	})
}

// The suite against Debian's etcd-server 3.4, run as a process of its own.
func TestConformanceExternal(t *testing.T) {
	x := etcdrig.StartExternal(t)
	imagestoretest.Run(t, imagestoretest.Harness{
		Open: func(t *testing.T) imagestore.Store { return newStore(t, testConfig(x.Endpoint, newPrefix())) },
	})
	t.Run("AuthPasswordNeverShown", func(t *testing.T) { testAuth(t, x.Endpoint) })
}

// testAuth turns etcd's auth on (for good: run it last on a server), then
// logs in with a wrong and a right password.
func testAuth(t *testing.T, endpoint string) {
	const pw, wrong = "Right-Passw0rd-xyz", "Wrong-Passw0rd-xyz"
	etcdrig.EnableAuth(t, newClient(t, endpoint), pw)
	cfg := testConfig(endpoint, newPrefix())
	cfg.Username, cfg.Password = "root", wrong
	_, err := etcdstore.New(cfg)
	if err == nil {
		t.Fatal("New with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), wrong) {
		t.Fatalf("login error shows the password: %v", err)
	}
	t.Logf("wrong password: %v", err)

	cfg.Password = pw
	s := newStore(t, cfg)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
			t.Fatalf("Store printed with %s shows the password: %s", verb, out)
		}
	}
	img, err := s.Put(callCtx(t), imagestoretest.Sample("vm1"))
	if err != nil {
		t.Fatalf("Put with auth: %v", err)
	}
	if _, err := imagestore.Claim(callCtx(t), s, img, "blade-b"); err != nil {
		t.Fatalf("Claim with auth: %v", err)
	}
	// Without credentials the server refuses: a refusal, not outcome unknown.
	anon := newStore(t, testConfig(endpoint, cfg.Prefix))
	_, err = anon.Put(callCtx(t), imagestoretest.Sample("vm2"))
	if err == nil || errors.Is(err, failover.ErrOutcomeUnknown) {
		t.Fatalf("Put without credentials on an auth cluster: err = %v, want a plain refusal", err)
	}
}

// rotating sends each call to the next of several Stores on one prefix
// (as several servers would), so the suite's compare-and-swap checks run
// across Stores that never saw each other's writes.
type rotating struct {
	mu     sync.Mutex
	n      int
	stores []*etcdstore.Store
}

func (r *rotating) next() *etcdstore.Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return r.stores[r.n%len(r.stores)]
}

func (r *rotating) Get(ctx context.Context, name string) (imagestore.Image, error) {
	return r.next().Get(ctx, name)
}
func (r *rotating) List(ctx context.Context) ([]imagestore.Image, error) { return r.next().List(ctx) }
func (r *rotating) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	return r.next().Put(ctx, img)
}

func TestConformanceSeveralStoresOnePrefix(t *testing.T) {
	imagestoretest.Run(t, imagestoretest.Harness{
		Open: func(t *testing.T) imagestore.Store {
			cfg := testConfig(embedded.endpoint, newPrefix())
			r := &rotating{}
			for range 3 {
				r.stores = append(r.stores, newStore(t, cfg))
			}
			return r
		},
	})
}

// A Store on a client the caller made: the suite passes, and Close leaves
// the client open.
func TestConformanceCallersClient(t *testing.T) {
	c := newClient(t, embedded.endpoint)
	imagestoretest.Run(t, imagestoretest.Harness{
		Open: func(t *testing.T) imagestore.Store {
			cfg := etcdstore.DefaultConfig()
			cfg.Client, cfg.Prefix = c, newPrefix()
			return newStore(t, cfg)
		},
	})
	if _, err := c.Get(callCtx(t), "still-open"); err != nil {
		t.Fatalf("the caller's client after the Stores on it were closed: %v", err)
	}
}
