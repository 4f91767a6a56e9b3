package demosim_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/internal/demosim"
)

// socketPath returns a path for a unix socket in a fresh short directory
// (t.TempDir's paths can pass the 107 bytes a socket address holds).
func socketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "demosim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "sim.sock")
}

// serve serves bmcs and hvs on a fresh socket until the test ends and
// returns its path.
func serve(t testing.TB, bmcs map[string]*simbmc.BMC, hvs map[string]*memhv.Hypervisor) string {
	t.Helper()
	path := socketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- demosim.Serve(ctx, ln, bmcs, hvs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

func newSimBMC(t testing.TB, cfg simbmc.Config) *simbmc.BMC {
	t.Helper()
	b, err := simbmc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newMemHV(t testing.TB, cfg memhv.Config) *memhv.Hypervisor {
	t.Helper()
	h, err := memhv.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func bmcClient(t testing.TB, path, name string) *demosim.BMC {
	t.Helper()
	c, err := demosim.NewBMC(path, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func inBandClient(t testing.TB, path, name string) *demosim.InBand {
	t.Helper()
	c, err := demosim.NewInBand(path, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func hvClient(t testing.TB, path, name string) *demosim.Hypervisor {
	t.Helper()
	c, err := demosim.NewHypervisor(path, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// servedBMC serves one simbmc made from cfg and returns it and a client.
func servedBMC(t testing.TB, cfg simbmc.Config) (*simbmc.BMC, *demosim.BMC, string) {
	t.Helper()
	b := newSimBMC(t, cfg)
	path := serve(t, map[string]*simbmc.BMC{cfg.Name: b}, nil)
	return b, bmcClient(t, path, cfg.Name), path
}

// deadSocket returns a socket path nobody listens on: the serving
// process is gone.
func deadSocket(t testing.TB) string {
	t.Helper()
	path := socketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody accepts: connection refused
	return path
}
