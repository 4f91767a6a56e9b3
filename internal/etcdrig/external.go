package etcdrig

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// External is an etcd server binary (Debian's etcd-server) run by the
// test as a process of its own, with its own data dir and ports.
type External struct {
	t        testing.TB
	bin      string
	dir      string
	Endpoint string
	args     []string
	log      *logBuffer
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Binary finds the etcd server binary; without one the test skips,
// or fails with CI=true.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/etcd"); serr == nil {
			return "/usr/bin/etcd"
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: etcd server binary missing (Debian package etcd-server): %v", err)
		}
		t.Skipf("etcd server binary missing (install Debian's etcd-server): %v", err)
	}
	return bin
}

// StartExternal starts the etcd binary on free loopback ports with a data
// dir in t.TempDir(), waits until it answers, and stops it (by PID) at the
// test's end.
func StartExternal(t testing.TB) *External {
	t.Helper()
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	client, peer := LoopbackURL(ports[0]), LoopbackURL(ports[1])
	x := &External{t: t, bin: Binary(t), dir: filepath.Join(t.TempDir(), "etcd"), Endpoint: client.String()}
	x.args = []string{
		"--name", "ext", "--data-dir", x.dir,
		"--listen-client-urls", client.String(), "--advertise-client-urls", client.String(),
		"--listen-peer-urls", peer.String(), "--initial-advertise-peer-urls", peer.String(),
		"--initial-cluster", "ext=" + peer.String(),
		"--logger", "zap", "--log-outputs", "stderr",
		// One member on loopback: elect itself within 100 ms, not 1 s.
		"--heartbeat-interval", "10", "--election-timeout", "100",
	}
	t.Cleanup(x.Stop)
	x.Start()
	return x
}

// Start runs the binary (again, on the same data dir and ports) and waits
// until it serves reads.
func (x *External) Start() {
	x.t.Helper()
	x.log = &logBuffer{}
	x.cmd = exec.Command(x.bin, x.args...)
	x.cmd.Stdout, x.cmd.Stderr = x.log, x.log
	// Dies with the test binary, should that crash before cleanup.
	x.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := x.cmd.Start(); err != nil {
		x.t.Fatalf("start %s: %v", x.bin, err)
	}
	x.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(x.cmd, x.exited)
	if err := x.waitReady(20 * time.Second); err != nil {
		x.t.Fatalf("etcd %s (pid %d): %v\n%s", x.Endpoint, x.cmd.Process.Pid, err, x.log.tail())
	}
}

func (x *External) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	// Wait for the port first: a client refused at once would back off
	// for a second before trying again.
	host, _ := TrimScheme(x.Endpoint)
	for {
		conn, err := net.DialTimeout("tcp", host, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-x.exited:
			return fmt.Errorf("exited before it listened: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %v: %v", limit, err)
		}
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{x.Endpoint}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if _, err := c.Get(ctx, "ready-probe"); err != nil {
		return fmt.Errorf("not serving after %v: %v", limit, err)
	}
	return nil
}

// Pid is the running process's id (for reading its CPU time in /proc).
func (x *External) Pid() int { return x.cmd.Process.Pid }

// Kill stops the process by PID with SIGKILL (a crash: no clean shutdown)
// and waits for it.
func (x *External) Kill() {
	x.t.Helper()
	if err := syscall.Kill(x.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		x.t.Fatalf("kill etcd pid %d: %v", x.cmd.Process.Pid, err)
	}
	<-x.exited
}

// Stop ends the process by PID: SIGTERM, then SIGKILL after 5 s.
func (x *External) Stop() {
	if x.cmd == nil || x.cmd.Process == nil {
		return
	}
	select {
	case <-x.exited:
		return
	default:
	}
	pid := x.cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-x.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		<-x.exited
	}
	if x.t.Failed() {
		x.t.Logf("etcd pid %d log tail:\n%s", pid, x.log.tail())
	}
}

// logBuffer keeps a process's output; exec writes it from a goroutine
// of its own.
type logBuffer struct {
	mu  sync.Mutex
	out []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.out = append(b.out, p...)
	return len(p), nil
}

func (b *logBuffer) tail() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.out[max(0, len(b.out)-2000):])
}
