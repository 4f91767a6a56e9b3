package rackelect_test

import (
	"context"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
)

// The guard's cost: two etcd transactions (each a write, fsynced by the
// embedded etcd on this machine's disk) around the BMC's command. The
// BMC is simbmc, which answers at once, so the difference is the guard.

var actions = [2]bmc.PowerAction{bmc.PowerActionOff, bmc.PowerActionOn}

func BenchmarkUnguardedPower(b *testing.B) {
	rec := newRecorder(b, "s1")
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if err := rec.SetPower(ctx, actions[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGuardedPower(b *testing.B) {
	e := newElector(b, embedded.endpoint, newPrefix(), "https://rm-a:8443", embeddedTTL)
	if _, err := e.Campaign(callCtx(b, 5*time.Second)); err != nil {
		b.Fatal(err)
	}
	p := e.Guard("s1", newRecorder(b, "s1"))
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := p.SetPower(ctx, actions[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
