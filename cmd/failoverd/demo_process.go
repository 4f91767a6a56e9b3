package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// child is one failoverd process the demo started.
type child struct {
	name string // "rack-manager" or the server's name
	cmd  *exec.Cmd
	done chan struct{} // closed once the process exited and its output is read
}

// startChild runs `exe role -config cfg [-server server]`; each line it
// writes on stdout goes to onLine, its stderr (the log) to a file in
// logDir. The child dies with the demo (Pdeathsig).
func startChild(exe, logDir, cfg, role, server string, env []string, onLine func(string)) (*child, error) {
	args := []string{role, "-config", cfg}
	name := role
	if server != "" {
		args = append(args, "-server", server)
		name = server
	}
	logf, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = w, logf
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	w.Close()
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			onLine(sc.Text())
		}
		io.Copy(io.Discard, r) //nolint:errcheck // drain a line too long
		r.Close()
	}()
	go func() {
		cmd.Wait() //nolint:errcheck // exit status of a killed child is expected
		<-read
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// kill sends SIGKILL and waits for the exit.
func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck // already gone is fine
	<-c.done
}

// stop sends SIGTERM and waits up to timeout, then kills.
func (c *child) stop(timeout time.Duration) {
	c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // already gone is fine
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.kill()
	}
}

// signal sends sig (SIGSTOP for a hung OS).
func (c *child) signal(sig syscall.Signal) { c.cmd.Process.Signal(sig) } //nolint:errcheck // gone is fine

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}
