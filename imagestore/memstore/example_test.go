package memstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
)

func Example() {
	s := memstore.New()
	ctx := context.Background()
	img, _ := s.Put(ctx, imagestore.Image{Name: "web", Owner: "blade-a", Definition: []byte("<domain/>")})

	// Two peers race to take the VM over from the same generation.
	_, errB := imagestore.Claim(ctx, s, img, "blade-b")
	_, errC := imagestore.Claim(ctx, s, img, "blade-c")
	now, _ := s.Get(ctx, "web")
	fmt.Println(errB == nil, errors.Is(errC, imagestore.ErrStaleGeneration), now.Owner, now.Generation)
	// Output: true true blade-b 2
}
