package takeoverrig

import (
	"context"
	"fmt"
	"sync"
	"testing"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/rack"
)

func simHost(t *testing.T, name string, power func(*simbmc.BMC) bmc.Power) (Host, *simbmc.BMC) {
	t.Helper()
	b, err := simbmc.New(simbmc.DefaultConfig(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return Host{Name: name, Roles: rack.Server{Sensors: b, Health: b, Watchdog: b, Power: power(b)},
		Power: func() (bmc.PowerState, error) { return b.HostPower(), nil }}, b
}

func honest(b *simbmc.BMC) bmc.Power { return b }

// liar claims every power-off done and sends nothing: a fence that never
// happened.
type liar struct{ *simbmc.BMC }

func (l liar) SetPower(ctx context.Context, a bmc.PowerAction) error {
	if a == bmc.PowerActionOff {
		return nil
	}
	return l.BMC.SetPower(ctx, a)
}

// TestFenceFollowsRealPower: a blade fault is fenced through the BMC, the
// host's real power goes, its VMs with it, and the backup runs only on
// the watcher.
func TestFenceFollowsRealPower(t *testing.T) {
	ha, a := simHost(t, "a", honest)
	hb, _ := simHost(t, "b", honest)
	r := Start(t, Config{Watched: ha, Watcher: hb})
	r.WaitPolled(2)
	a.SetFault(true, "processor IERR")
	r.WaitEvent(failover.EventFenced, "")
	r.WaitEvent(failover.EventBackupStarted, "vm-a")
	r.RunsOnlyOn("vm-a", r.Watcher)
}

// recorder keeps the errors the rig reports instead of failing the test.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprint(args...))
}

// TestTwoCopiesFailTheTest: a fence the adapter claims but never sent,
// on a host whose hypervisor does not answer (so the Monitor cannot see
// the VM still running there): the backup starts while the old copy
// runs, and the rig must report it.
func TestTwoCopiesFailTheTest(t *testing.T) {
	rec := &recorder{}
	t.Run("liar", func(t *testing.T) {
		rec.TB = t
		ha, a := simHost(t, "a", func(b *simbmc.BMC) bmc.Power { return liar{b} })
		hb, _ := simHost(t, "b", honest)
		r := Start(rec, Config{Watched: ha, Watcher: hb})
		r.WaitPolled(2)
		r.Watched.HV.SetUnreachable(true)
		a.SetFault(true, "processor IERR")
		r.WaitEvent(failover.EventBackupStarted, "vm-a")
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errs) == 0 {
		t.Fatal("the rig did not report vm-a running on a and b at once")
	}
	t.Logf("reported: %v", rec.errs)
}
