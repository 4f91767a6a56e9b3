package etcdstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/etcdstore"
	"github.com/rackha/failover/imagestore/imagestoretest"
)

func TestConformanceEmbedded(t *testing.T) {
	imagestoretest.Run(t, imagestoretest.Harness{
		Open: func(t *testing.T) imagestore.Store { return newStore(t, testConfig(embedded.endpoint, newPrefix())) },
	})
}

// The suite against Debian's etcd-server 3.4, run as a process of its own.
func TestConformanceExternal(t *testing.T) {
	x := startExternal(t)
	imagestoretest.Run(t, imagestoretest.Harness{
		Open: func(t *testing.T) imagestore.Store { return newStore(t, testConfig(x.endpoint, newPrefix())) },
	})
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
			cfg.Endpoints, cfg.DialTimeout, cfg.DialKeepAliveTime, cfg.DialKeepAliveTimeout = nil, 0, 0, 0
			cfg.Client, cfg.Prefix = c, newPrefix()
			return newStore(t, cfg)
		},
	})
	if _, err := c.Get(callCtx(t), "still-open"); err != nil {
		t.Fatalf("the caller's client after the Stores on it were closed: %v", err)
	}
}
