package filestore

import (
	"context"
	"testing"

	"github.com/rackha/failover/imagestore/imagestoretest"
)

// BenchmarkPut includes two fsyncs (file and directory) per Put: its cost
// is the disk's, and varies far more than memstore's.
func BenchmarkPut(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Put(ctx, imagestoretest.Sample("vm1")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "vm1"); err != nil {
			b.Fatal(err)
		}
	}
}
