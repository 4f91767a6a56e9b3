package demosim_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/clock"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/internal/demosim"
	"github.com/rackha/failover/watchdog"
)

// Environment of the helper process: the test binary run again as a
// client of the socket.
const (
	helperModeEnv   = "DEMOSIM_HELPER_MODE"
	helperSocketEnv = "DEMOSIM_HELPER_SOCKET"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperModeEnv); mode != "" {
		if err := helper(mode, os.Getenv(helperSocketEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper is the client process. "start": arm the watchdog in-band, then
// start vm1 (the server holds that answer until the process dies).
// "fence": check what the first process left, kick, then fence blade-a
// (held too). "check": report power and exit.
func helper(mode, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := demosim.NewBMC(path, "blade-a")
	if err != nil {
		return err
	}
	w, err := demosim.NewInBand(path, "blade-a")
	if err != nil {
		return err
	}
	h, err := demosim.NewHypervisor(path, "blade-a")
	if err != nil {
		return err
	}
	switch mode {
	case "start":
		if err := w.Arm(ctx, 10*time.Second, watchdog.ActionPowerDown); err != nil {
			return err
		}
		err := h.Start(ctx, image("vm1"))
		return fmt.Errorf("start returned (%v); the server should have held it until this process was killed", err)
	case "fence":
		if st, err := h.State(ctx, "vm1"); err != nil || st != hypervisor.StateRunning {
			return fmt.Errorf("vm1 after the first process was killed: %v, %v; want running", st, err)
		}
		if err := h.Start(ctx, image("vm1")); !errors.Is(err, hypervisor.ErrAlreadyRunning) {
			return fmt.Errorf("second start of vm1: %v, want ErrAlreadyRunning", err)
		}
		if err := w.Kick(ctx); err != nil {
			return fmt.Errorf("kick of the watchdog the first process armed: %w", err)
		}
		err := b.SetPower(ctx, bmc.PowerActionOff)
		return fmt.Errorf("fence returned (%v); the server should have held it until this process was killed", err)
	case "check":
		p, err := b.PowerState(ctx)
		if err != nil {
			return err
		}
		fmt.Println("power", p)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// holder serves real, except that the first call of each held
// operation is carried out and then answered only once its client is
// gone (never, that is): the client is killed mid-call.
type holder struct {
	real    http.Handler
	mu      sync.Mutex
	held    map[string]bool // path -> already held once
	reached chan string     // a held call was carried out
	gone    chan string     // a held call's client hung up
}

func (h *holder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	done, hold := h.held[r.URL.Path]
	if hold && !done {
		h.held[r.URL.Path] = true
	}
	h.mu.Unlock()
	if !hold || done {
		h.real.ServeHTTP(w, r)
		return
	}
	h.real.ServeHTTP(httptest.NewRecorder(), r)
	h.reached <- r.URL.Path
	<-r.Context().Done()
	h.gone <- r.URL.Path
}

// runKilled starts the helper in mode, waits until its held call was
// carried out, SIGKILLs it and waits until the server saw it hang up.
func runKilled(t *testing.T, h *holder, path, mode, heldPath string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperModeEnv+"="+mode, helperSocketEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case p := <-h.reached:
		if p != heldPath {
			t.Fatalf("held call %s, want %s", p, heldPath)
		}
	case err := <-exited:
		t.Fatalf("helper %s exited (%v) before its held call: %s", mode, err, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("helper %s never made its held call", mode)
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper %s ended with %v, want killed by SIGKILL; stderr: %s", mode, err, stderr.String())
	}
	select {
	case <-h.gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the server never noticed the killed client hang up")
	}
}

// TestClientProcessKilledMidCall: a client process killed by SIGKILL in
// the middle of a start, then of a fence, leaves the served state as the
// calls made it; a restarted process finds it so, and the server keeps
// serving.
func TestClientProcessKilledMidCall(t *testing.T) {
	clk := clock.NewManual(epoch)
	bcfg := simbmc.DefaultConfig("blade-a")
	bcfg.Clock = clk
	st := memhv.NewStorage()
	hcfg := memhv.DefaultConfig("blade-a")
	hcfg.Storage = st
	b, hv, err := demosim.NewHost(bcfg, hcfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := demosim.NewServer(map[string]*simbmc.BMC{"blade-a": b}, map[string]*memhv.Hypervisor{"blade-a": hv})
	if err != nil {
		t.Fatal(err)
	}
	h := &holder{real: srv, reached: make(chan string, 1), gone: make(chan string, 1),
		held: map[string]bool{"/v1/hv/blade-a/start": false, "/v1/bmc/blade-a/set-power": false}}
	path := socketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close(); <-done })

	runKilled(t, h, path, "start", "/v1/hv/blade-a/start")
	if got := st.Running("vm1"); len(got) != 1 || got[0] != "blade-a" {
		t.Fatalf("vm1 runs on %v after its starter was killed, want [blade-a] once", got)
	}
	ws, err := b.InBand().State(context.Background())
	if err != nil || !ws.Running || ws.Expired || ws.Timeout != 10*time.Second || ws.Action != watchdog.ActionPowerDown {
		t.Fatalf("watchdog after the process that armed it was killed: %+v, %v; want running, 10 s, power-down", ws, err)
	}

	clk.Advance(4 * time.Second)
	runKilled(t, h, path, "fence", "/v1/bmc/blade-a/set-power")
	if p := b.HostPower(); p != bmc.PowerOff {
		t.Fatalf("power after the fencer was killed: %v, want off (the fence was carried out)", p)
	}
	if got := st.RunningAll(); len(got) != 0 {
		t.Fatalf("VMs running after the fence: %v, want none (the hypervisor follows the BMC)", got)
	}
	ws, _ = b.InBand().State(context.Background())
	if ws.Running || ws.Remaining != 10*time.Second {
		t.Fatalf("watchdog after the fence: %+v; want stopped with the full 10 s left (kicked at 4 s, fenced then)", ws)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperModeEnv+"=check", helperSocketEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "power off" {
		t.Fatalf("a third process reading power: %q, %v; want \"power off\"", out, err)
	}
}
