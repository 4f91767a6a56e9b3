package libvirthv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackha/failover/hypervisor"
)

// daemon is a real libvirtd serving the test driver on a unix socket in a
// temp dir. LIBVIRT_DRIVER_DIR points at an empty folder, so it loads no
// driver module (QEMU's would fail here) and serves the built-in test
// driver only.
type daemon struct {
	dir, sock string
	cmd       *exec.Cmd
}

func needDaemon(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("libvirtd")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("libvirtd not found (Debian package libvirt-daemon): %v", err)
	}
	t.Skipf("libvirtd not found (install Debian's libvirt-daemon): %v", err)
	return ""
}

func startDaemon(t *testing.T, bin, dir string) *daemon {
	t.Helper()
	run := filepath.Join(dir, "run")
	mkdirs(t, run, filepath.Join(dir, "nodrivers"))
	conf := filepath.Join(dir, "libvirtd.conf")
	err := os.WriteFile(conf, []byte(strings.Join([]string{
		`unix_sock_dir = "` + run + `"`,
		`unix_sock_rw_perms = "0700"`,
		`auth_unix_rw = "none"`,
		`auth_unix_ro = "none"`,
		`log_outputs = "2:stderr"`,
	}, "\n")+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{dir: dir, sock: filepath.Join(run, "libvirt-sock")}
	os.Remove(d.sock)
	d.cmd = exec.Command(bin, "-f", conf, "-p", filepath.Join(dir, "libvirtd.pid"))
	d.cmd.Env = append(os.Environ(), "LIBVIRT_DRIVER_DIR="+filepath.Join(dir, "nodrivers"))
	d.cmd.Stderr, _ = os.Create(filepath.Join(dir, "libvirtd.log"))
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.kill() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(d.sock); err == nil {
			return d
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "libvirtd.log"))
	t.Fatalf("libvirtd (pid %d) made no socket in 10 s; its log:\n%s", d.cmd.Process.Pid, log)
	return nil
}

// kill ends this daemon by its own pid.
func (d *daemon) kill() {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGCONT) //nolint:errcheck // it may not be stopped
	d.cmd.Process.Kill()                  //nolint:errcheck // it may be gone
	d.cmd.Wait()                          //nolint:errcheck // killed on purpose
}

// The connection really drops (libvirtd killed), calls fail with
// ErrUnreachable, and once a daemon is back the next call reconnects.
// Then the daemon freezes (SIGSTOP: the peer vanishes mid-call, its
// socket still open): keep-alive fails the call within seconds.
func TestRealDaemonDropAndReconnect(t *testing.T) {
	bin := needDaemon(t)
	dir := t.TempDir()
	node := nodeFile(t, "hostA.xml", dir, dir)
	d := startDaemon(t, bin, filepath.Join(dir, "d1"))

	cfg := DefaultConfig("test+unix://" + node + "?socket=" + d.sock)
	cfg.KeepAliveInterval, cfg.KeepAliveCount = time.Second, 1
	hv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer hv.Close()
	if vms, err := hv.List(testCtx(t)); err != nil || len(vms) != 2 {
		t.Fatalf("List through libvirtd: %+v, %v; want hostA's two VMs", vms, err)
	}

	d.kill()
	if _, err := hv.List(testCtx(t)); !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Fatalf("List with libvirtd killed: %v, want ErrUnreachable", err)
	}
	if _, err := hv.State(testCtx(t), "web1"); !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Fatalf("State with libvirtd gone: %v, want ErrUnreachable", err)
	}

	d = startDaemon(t, bin, filepath.Join(dir, "d1"))
	st, err := hv.State(testCtx(t), "web1")
	if err != nil || st != hypervisor.StateRunning {
		t.Fatalf("State after libvirtd came back: %v, %v; want running", st, err)
	}
	if hv.conns.opens != 2 {
		t.Errorf("%d connections opened, want 2", hv.conns.opens)
	}

	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	begin := time.Now()
	_, err = hv.List(ctx)
	took := time.Since(begin)
	if !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Fatalf("List with libvirtd frozen: %v, want ErrUnreachable", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || took > 10*time.Second {
		t.Errorf("List with libvirtd frozen took %v (%v): keep-alive did not cut it short", took, err)
	}
	t.Logf("frozen peer detected after %v: %v", took, err)
}
