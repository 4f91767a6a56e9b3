package etcdstore_test

import (
	"context"
	"testing"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/etcdstore"
	"github.com/rackha/failover/imagestore/filestore"
	"github.com/rackha/failover/imagestore/imagestoretest"
)

// The benchmarks run against the embedded etcd (one member, its data dir
// on the same disk as filestore's: both fsync every write).

func benchStore(b *testing.B) imagestore.Store {
	return newStore(b, testConfig(embedded.endpoint, newPrefix()))
}

func benchPut(b *testing.B, s imagestore.Store) {
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

// benchClaim moves one image back and forth between two servers.
func benchClaim(b *testing.B, s imagestore.Store) {
	ctx := context.Background()
	img, err := s.Put(ctx, imagestoretest.Sample("vm1"))
	if err != nil {
		b.Fatal(err)
	}
	owners := [2]string{"blade-b", "blade-a"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if img, err = imagestore.Claim(ctx, s, img, owners[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkPut(b *testing.B) { benchPut(b, benchStore(b)) }

// BenchmarkClaim: the Store saw the image it claims (one transaction).
func BenchmarkClaim(b *testing.B) { benchClaim(b, benchStore(b)) }

// BenchmarkClaimUnseen: each claim goes to a Store that has not seen the
// image's generation, so it reads the key first (two round trips).
func BenchmarkClaimUnseen(b *testing.B) {
	cfg := testConfig(embedded.endpoint, newPrefix())
	benchClaim(b, &rotating{stores: []*etcdstore.Store{newStore(b, cfg), newStore(b, cfg)}})
}

func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
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

// BenchmarkFilestoreClaim is filestore's Claim in the same run, to compare.
func BenchmarkFilestoreClaim(b *testing.B) {
	s, err := filestore.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchClaim(b, s)
}

func BenchmarkFilestorePut(b *testing.B) {
	s, err := filestore.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchPut(b, s)
}
