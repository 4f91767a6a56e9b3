package memstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rackha/failover/imagestore/imagestoretest"
	"github.com/rackha/failover/imagestore/memstore"
)

func BenchmarkPut(b *testing.B) {
	s := memstore.New()
	ctx := context.Background()
	img, err := s.Put(ctx, imagestoretest.Sample("vm1"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if img, err = s.Put(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s := memstore.New()
	ctx := context.Background()
	for i := range 64 {
		if _, err := s.Put(ctx, imagestoretest.Sample(fmt.Sprintf("vm%02d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "vm31"); err != nil {
			b.Fatal(err)
		}
	}
}
