package libvirthv_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/internal/qemurig"
)

// BenchmarkQEMUBoot times Start (define and start through libvirthv) of
// 1 and 10 guests at once on one host to every guest's first serial
// tick, then destroys them.
func BenchmarkQEMUBoot(b *testing.B) {
	e := newQEMU(b)
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("guests=%d", n), func(b *testing.B) {
			guests := make([]qemurig.Guest, n)
			for i := range guests {
				guests[i] = e.guest(b, fmt.Sprintf("boot%d-%02d", n, i))
			}
			var samples []time.Duration
			for b.Loop() {
				samples = append(samples, bootAll(b, e, guests))
				b.StopTimer()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				for _, g := range guests {
					if err := e.powerA.Stop(ctx, g.Name); err != nil {
						b.Fatal(err)
					}
				}
				cancel()
				b.StartTimer()
			}
			b.ReportMetric(median(samples).Seconds()*1000, "ms-to-last-first-tick")
		})
	}
}

// bootAll starts guests on a in parallel and waits for each one's next tick.
func bootAll(b *testing.B, e *qemuEnv, guests []qemurig.Guest) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	begin := time.Now()
	var wg sync.WaitGroup
	for _, g := range guests {
		before, err := qemurig.ReadSerial(g.Serial)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.a.Start(ctx, image(g)); err != nil {
				b.Error(err)
				return
			}
			if _, err := qemurig.WaitSerial(ctx, g.Serial, func(s qemurig.Serial) bool {
				return len(s.Boots) > len(before.Boots) && len(s.Ticks) > len(before.Ticks)
			}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return time.Since(begin)
}

// BenchmarkQEMUCheckpoint times Checkpoint (save with memory) of a guest
// on a and its resume on b, for guests of 256 MiB and 1 GiB, and reports
// the save file's size. Each iteration boots a fresh guest, untimed.
func BenchmarkQEMUCheckpoint(b *testing.B) {
	e := newQEMU(b)
	for _, mib := range []int{256, 1024} {
		b.Run(fmt.Sprintf("mem=%dMiB", mib), func(b *testing.B) {
			var saves, restores []time.Duration
			var size int64
			i := 0
			for b.Loop() {
				b.StopTimer()
				g := e.guest(b, fmt.Sprintf("ckpt%d-%d", mib, i))
				i++
				g.MemoryMiB = mib
				e.bootOn(b, e.a, e.rig.A, g, 2)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				b.StartTimer()
				begin := time.Now()
				ref, err := e.a.Checkpoint(ctx, g.Name)
				saved := time.Since(begin)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				size = fileSize(ref)
				at, _ := qemurig.ReadSerial(g.Serial)
				img := image(g)
				img.Owner, img.Checkpoint, img.CheckpointGeneration, img.Generation = "b", ref, 2, 3
				b.StartTimer()
				begin = time.Now()
				err = e.b.Start(ctx, img)
				restored := time.Since(begin)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				s, err := qemurig.WaitSerial(ctx, g.Serial, func(s qemurig.Serial) bool { return s.Last().N > at.Last().N })
				if err != nil || len(s.Boots) != 1 || s.Last().N != at.Last().N+1 {
					b.Fatalf("after the resume: %+v, boots %+v, %v; want tick %d of the same boot", s.Last(), s.Boots, err, at.Last().N+1)
				}
				if err := e.b.Stop(ctx, g.Name); err != nil {
					b.Fatal(err)
				}
				cancel()
				saves, restores = append(saves, saved), append(restores, restored)
				b.StartTimer()
			}
			b.ReportMetric(median(saves).Seconds()*1000, "ms-save")
			b.ReportMetric(median(restores).Seconds()*1000, "ms-restore")
			b.ReportMetric(float64(size)/1e6, "MB-saved")
		})
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
