package libvirthv

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
)

// fakeDomain is a guest for stopDomain: it stops after shutdownTakes, or
// never when ignore is set.
type fakeDomain struct {
	ignore        bool
	shutdownTakes time.Duration
	shutdownAt    atomic.Pointer[time.Time]
	destroyed     atomic.Bool
	shutdownErr   error
}

func (f *fakeDomain) ops() domainOps {
	return domainOps{
		shutdown: func() error {
			if f.shutdownErr != nil {
				return f.shutdownErr
			}
			now := time.Now()
			f.shutdownAt.Store(&now)
			return nil
		},
		destroy: func() error {
			if !f.destroyed.CompareAndSwap(false, true) {
				return libvirt.Error{Code: libvirt.ERR_OPERATION_INVALID, Message: "domain is not running"}
			}
			return nil
		},
		state: func() (hypervisor.VMState, error) {
			if f.destroyed.Load() {
				return hypervisor.StateStopped, nil
			}
			if at := f.shutdownAt.Load(); at != nil && !f.ignore && time.Since(*at) >= f.shutdownTakes {
				return hypervisor.StateStopped, nil
			}
			return hypervisor.StateRunning, nil
		},
	}
}

func TestStopDomainGracefulThenDestroy(t *testing.T) {
	tests := []struct {
		name        string
		guest       *fakeDomain
		graceful    time.Duration
		wantDestroy bool
		minTook     time.Duration
	}{
		{"guest shuts down in time", &fakeDomain{shutdownTakes: 20 * time.Millisecond}, time.Second, false, 20 * time.Millisecond},
		{"guest ignores shutdown", &fakeDomain{ignore: true}, 80 * time.Millisecond, true, 80 * time.Millisecond},
		{"guest refuses shutdown", &fakeDomain{shutdownErr: errors.New("agent not responding")}, time.Second, true, 0},
		{"no graceful time left", &fakeDomain{ignore: true}, 0, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			if err := stopDomain(context.Background(), "vm", tc.graceful, 2*time.Millisecond, tc.guest.ops()); err != nil {
				t.Fatal(err)
			}
			took := time.Since(begin)
			if got := tc.guest.destroyed.Load(); got != tc.wantDestroy {
				t.Errorf("destroyed = %v, want %v", got, tc.wantDestroy)
			}
			if took < tc.minTook || took > tc.minTook+time.Second {
				t.Errorf("took %v, want about %v", took, tc.minTook)
			}
		})
	}
}

// A context that ends cuts the graceful wait short: the guest is destroyed.
func TestStopDomainContextEnds(t *testing.T) {
	g := fakeDomain{ignore: true}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := stopDomain(ctx, "vm", time.Hour, 2*time.Millisecond, g.ops()); err != nil {
		t.Fatal(err)
	}
	if !g.destroyed.Load() {
		t.Error("not destroyed after the context ended")
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("took %v with a 50 ms context", took)
	}
}

func TestGracefulTime(t *testing.T) {
	tests := []struct {
		name             string
		ctxLeft          time.Duration // 0: no deadline
		timeout, reserve time.Duration
		want             time.Duration
	}{
		{"no deadline", 0, 30 * time.Second, 2 * time.Second, 30 * time.Second},
		{"deadline far", time.Hour, 30 * time.Second, 2 * time.Second, 30 * time.Second},
		{"deadline near", 10 * time.Second, 30 * time.Second, 2 * time.Second, 8 * time.Second},
		{"reserve capped at a quarter", 4 * time.Second, 30 * time.Second, 2 * time.Second, 3 * time.Second},
		{"deadline passed", -time.Second, 30 * time.Second, 2 * time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctxLeft != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxLeft)
				defer cancel()
			}
			got := gracefulTime(ctx, tc.timeout, tc.reserve)
			if d := got - tc.want; d > 0 || d < -50*time.Millisecond {
				t.Errorf("gracefulTime = %v, want %v", got, tc.want)
			}
		})
	}
}

// Stop on the test driver with a deadline: the driver shuts a domain off
// at once, so Stop returns well within it and the domain stays defined.
func TestStopWithDeadlineOnTestDriver(t *testing.T) {
	dir := t.TempDir()
	h := openHost(t, "hostB.xml", dir, dir, dir)
	img := testImage(t, dir, "vm1", "b")
	if err := h.hv.Start(testCtx(t), img); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.hv.Stop(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	if st, err := h.hv.State(testCtx(t), "vm1"); err != nil || st != hypervisor.StateStopped {
		t.Fatalf("after Stop: %v, %v; want stopped", st, err)
	}
}
