package libvirthv_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/internal/qemurig"
)

// On a real QEMU host: FreeCapacity is the node less the guests really
// running (their QEMU processes alive); Stop shuts a guest that honours
// the ACPI power button down gracefully, well within its deadline, and
// destroys one that ignores it once ShutdownTimeout has passed.
func TestQEMUStopAndCapacity(t *testing.T) {
	t.Parallel()
	e := newQEMU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	empty, err := e.a.FreeCapacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	polite := e.guest(t, "polite")
	stubborn := e.guest(t, "stubborn")
	stubborn.IgnorePowerButton = true
	var wg sync.WaitGroup
	for _, g := range []qemurig.Guest{polite, stubborn} {
		wg.Add(1)
		go func() { defer wg.Done(); t.Logf("%s: start to first tick %v", g.Name, e.bootOn(t, e.a, e.rig.A, g, 2)) }()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := e.rig.A.RunningGuests(); n != 2 {
		t.Fatalf("%d QEMU processes alive on host a, want 2", n)
	}
	two, err := e.a.FreeCapacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := empty.Sub(hypervisor.Capacity{MemoryMiB: 2 * 128, CPUs: 2}); two != want {
		t.Errorf("FreeCapacity with two 128 MiB guests running: %v, want %v (empty: %v)", two, want, empty)
	}

	begin := time.Now()
	if err := e.a.Stop(ctx, polite.Name); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	s, _ := qemurig.ReadSerial(polite.Serial)
	if s.PowerButton != 1 || took >= e.shutdownWait {
		t.Errorf("graceful Stop took %v (ShutdownTimeout %v), %d power-button lines in the guest's log, want 1", took, e.shutdownWait, s.PowerButton)
	}
	t.Logf("figure: graceful-stop=%v", took)

	stubbornHV := e.open(t, e.rig.A, 2*time.Second)
	begin = time.Now()
	if err := stubbornHV.Stop(ctx, stubborn.Name); err != nil {
		t.Fatal(err)
	}
	took = time.Since(begin)
	if took < 2*time.Second || took > 6*time.Second {
		t.Errorf("Stop of a guest ignoring the power button took %v, want its 2 s ShutdownTimeout and a destroy", took)
	}
	t.Logf("figure: stop-by-destroy=%v (ShutdownTimeout 2s)", took)
	for _, g := range []qemurig.Guest{polite, stubborn} {
		if st := state(t, e.a, g.Name); st != hypervisor.StateStopped {
			t.Errorf("%s is %v after Stop, want stopped", g.Name, st)
		}
	}
	if n := e.rig.A.RunningGuests(); n != 0 {
		t.Errorf("%d QEMU processes alive on host a after both stopped", n)
	}
	if free, err := e.a.FreeCapacity(ctx); err != nil || free != empty {
		t.Errorf("FreeCapacity after both stopped: %v, %v; want %v", free, err, empty)
	}
}
