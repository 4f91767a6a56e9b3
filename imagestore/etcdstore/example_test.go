package etcdstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/rackha/failover"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/etcdstore"
)

// A rack's store on the shared cluster, and a claim whose outcome may be
// unknown.
func Example() {
	cfg := etcdstore.DefaultConfig()
	cfg.Endpoints = []string{embedded.endpoint} // "https://etcd-1:2379", ... in production, with cfg.TLS
	cfg.Prefix = newPrefix()                    // "/failover/rack-7/": one per rack
	store, err := etcdstore.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	ctx := context.Background()
	img, err := store.Put(ctx, imagestore.Image{Name: "db", Owner: "blade-1", Definition: []byte("<domain/>")})
	if err != nil {
		fmt.Println(err)
		return
	}
	claimed, err := imagestore.Claim(ctx, store, img, "blade-2")
	switch {
	case errors.Is(err, failover.ErrOutcomeUnknown):
		// Read it back (or claim again at img.Generation: stale if the
		// first one was applied).
		return
	case errors.Is(err, imagestore.ErrStaleGeneration):
		// Someone else changed it first.
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	fmt.Println(claimed.Owner, claimed.PreviousOwner, claimed.Generation)
	// Output: blade-2 blade-1 2
}
