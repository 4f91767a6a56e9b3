package vspherehv

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/soap"

	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
)

// BenchmarkTakeover times what follows a confirmed fence of host A: for
// every protected VM, the claim in the image store (memstore, as
// failover.Monitor does it) and the start on host B (stale copy powered
// off and unregistered in the inventory, .vmx registered on B's pool,
// powered on). One op is
// the whole takeover of N VMs; setup (N running VMs on A, A failed in the
// model) is outside the timer. "seq" starts them one after another, as
// failover.Monitor does; "par4" with four concurrent Starts.
func BenchmarkTakeover(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		for _, workers := range []int{1, 4} {
			name := fmt.Sprintf("vms=%d/seq", n)
			if workers > 1 {
				name = fmt.Sprintf("vms=%d/par%d", n, workers)
			}
			b.Run(name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					s := newSim(b)
					s.sizeHost(b, hostB, 1<<20, 1024)
					a, hb := s.hv(b, hostA), s.hv(b, hostB)
					imgs := protect(b, s, a, n)
					store := memstore.New()
					for i, img := range imgs {
						stored, err := store.Put(context.Background(), img)
						if err != nil {
							b.Fatal(err)
						}
						imgs[i] = stored
					}
					s.failHost(b, hostA)
					calls := &countRT{next: hb.vc.RoundTripper}
					hb.vc.RoundTripper = calls
					b.StartTimer()
					start := time.Now()
					takeover(b, store, hb, imgs, workers)
					b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(n), "ms/vm")
					b.ReportMetric(float64(calls.n.Load())/float64(n), "calls/vm")
				}
			})
		}
	}
}

// countRT counts SOAP calls.
type countRT struct {
	next soap.RoundTripper
	n    atomic.Int64
}

func (c *countRT) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	c.n.Add(1)
	return c.next.RoundTrip(ctx, req, res)
}

func takeover(b *testing.B, store imagestore.Store, h *Hypervisor, imgs []imagestore.Image, workers int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch := make(chan imagestore.Image)
	var wg sync.WaitGroup
	errs := make(chan error, len(imgs))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for img := range ch {
				claimed, err := imagestore.Claim(ctx, store, img, hostB)
				if err == nil {
					err = h.Start(ctx, claimed)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, img := range imgs {
		ch <- img
	}
	close(ch)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
