package libvirthv_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/libvirthv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/internal/qemurig"
)

// qemuEnv is two real libvirt QEMU hosts (see internal/qemurig), each
// one libvirthv.Hypervisor, plus a second Hypervisor per host that stops
// with no graceful part: the power-off stand-in of the fence.
type qemuEnv struct {
	rig          *qemurig.Rig
	a, b         *libvirthv.Hypervisor
	powerA       *libvirthv.Hypervisor
	accel        string // "kvm" or "qemu"
	shutdownWait time.Duration
}

// newQEMU starts the rig. A missing component fails the test under
// CI=true and skips it otherwise.
func newQEMU(t testing.TB) *qemuEnv {
	t.Helper()
	rig, err := qemurig.New(t.TempDir())
	t.Cleanup(rig.Stop)
	if errors.Is(err, qemurig.ErrMissing) && os.Getenv("CI") != "true" {
		t.Skipf("%v (sh scripts/install-test-deps.sh installs it)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	e := &qemuEnv{rig: rig, shutdownWait: 10 * time.Second}
	e.a = e.open(t, rig.A, e.shutdownWait)
	e.b = e.open(t, rig.B, e.shutdownWait)
	e.powerA = e.open(t, rig.A, 0)
	e.accel = probeAccel(t, e)
	return e
}

func (e *qemuEnv) open(t testing.TB, h *qemurig.Host, shutdown time.Duration) *libvirthv.Hypervisor {
	t.Helper()
	cfg := libvirthv.DefaultConfig(h.URI)
	cfg.CheckpointDir = e.rig.Checkpoints
	cfg.Domain.ImageRoots = []string{e.rig.Shared}
	cfg.Domain.AllowHostChardevs = true // the serial console is logged to a file the test reads
	cfg.ShutdownTimeout = shutdown
	cfg.PollInterval = 20 * time.Millisecond
	hv, err := libvirthv.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hv.Ping(ctx); err != nil {
		t.Fatalf("%s: %v\n%s", h.Name, err, h.QEMULog(""))
	}
	return hv
}

var (
	accelOnce sync.Once
	accel     string
)

// probeAccel decides once per process: KVM when a probe guest boots
// under it within 5 s, TCG otherwise.
func probeAccel(t testing.TB, e *qemuEnv) string {
	accelOnce.Do(func() {
		ok, why, err := e.rig.ProbeKVM(e.rig.A, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		accel = "qemu"
		if ok {
			accel = "kvm"
		}
		t.Logf("accelerator probe: %s", why)
	})
	if accel == "kvm" {
		t.Logf("guests run under KVM")
	} else {
		t.Logf("guests run under TCG")
	}
	return accel
}

// image is g's first image, owned by server a.
func image(g qemurig.Guest) imagestore.Image { return g.Image("a") }

// guest makes a guest of the probed accelerator.
func (e *qemuEnv) guest(t testing.TB, name string) qemurig.Guest {
	t.Helper()
	g, err := e.rig.Guest(name, e.accel)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// bootOn starts g on hv and waits for its tick n; it returns the time
// from Start to the first tick.
func (e *qemuEnv) bootOn(t testing.TB, hv *libvirthv.Hypervisor, h *qemurig.Host, g qemurig.Guest, n int) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	begin := time.Now()
	if err := hv.Start(ctx, image(g)); err != nil {
		t.Fatalf("start %s: %v\n%s", g.Name, err, h.QEMULog(g.Name))
	}
	var first time.Duration
	_, err := qemurig.WaitSerial(ctx, g.Serial, func(s qemurig.Serial) bool {
		if first == 0 && len(s.Ticks) > 0 {
			first = time.Since(begin)
		}
		return s.Last().N >= n
	})
	if err != nil {
		s, _ := qemurig.ReadSerial(g.Serial)
		t.Fatalf("%s: no tick %d: %v\nserial:\n%s\nQEMU log:\n%s", g.Name, n, err, s.Raw, h.QEMULog(g.Name))
	}
	return first
}

// state is hv's state of name, failing the test on an error.
func state(t testing.TB, hv hypervisor.Hypervisor, name string) hypervisor.VMState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := hv.State(ctx, name)
	if err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		t.Fatal(err)
	}
	return st
}

// fileSize is the size of p, or -1.
func fileSize(p string) int64 {
	fi, err := os.Stat(filepath.Clean(p))
	if err != nil {
		return -1
	}
	return fi.Size()
}
