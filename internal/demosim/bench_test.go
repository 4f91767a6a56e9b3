package demosim_test

import (
	"context"
	"testing"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor/memhv"
)

// BenchmarkReadings: one sensor read (8 readings) over the socket.
func BenchmarkReadings(b *testing.B) {
	_, c, _ := servedBMC(b, simbmc.DefaultConfig("blade-a"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Readings(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKick: one in-band watchdog kick over the socket.
func BenchmarkKick(b *testing.B) {
	sim := newSimBMC(b, simbmc.DefaultConfig("blade-a"))
	path := serve(b, map[string]*simbmc.BMC{"blade-a": sim}, nil)
	w := inBandClient(b, path, "blade-a")
	ctx := context.Background()
	if err := w.Arm(ctx, 1<<40, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Kick(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartStop: a VM start and stop over the socket.
func BenchmarkStartStop(b *testing.B) {
	h := newMemHV(b, memhv.DefaultConfig("blade-a"))
	c := hvClient(b, serve(b, nil, map[string]*memhv.Hypervisor{"blade-a": h}), "blade-a")
	ctx, img := context.Background(), image("vm1")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Start(ctx, img); err != nil {
			b.Fatal(err)
		}
		if err := c.Stop(ctx, img.Name); err != nil {
			b.Fatal(err)
		}
	}
}
