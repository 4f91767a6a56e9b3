package qemurig

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Host is one libvirt QEMU host: a libvirtd and its virtlogd, both in a
// mount namespace of their own where libvirt's system directories
// (/etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt,
// /var/cache/libvirt) are bind mounts of directories under Dir. Two Hosts
// on one machine share nothing but what both see outside those: the
// shared directory of disks, checkpoints and serial logs.
//
// libvirtd loads only the QEMU driver (LIBVIRT_DRIVER_DIR), so no network,
// storage or other driver touches the machine. QEMU runs as root, without
// cgroups, security driver or namespaces of libvirt's: the tests share a
// machine, not a data centre.
type Host struct {
	Name string
	Dir  string // the host's private directories
	// URI connects to this host's libvirtd (qemu+unix, through its socket).
	URI string

	sock               string
	libvirtd, virtlogd *exec.Cmd
}

// system directories of libvirt that each host gets privately.
var systemDirs = []struct{ sys, own string }{
	{"/etc/libvirt", "etc"},
	{"/run/libvirt", "run"},
	{"/var/lib/libvirt", "lib"},
	{"/var/log/libvirt", "log"},
	{"/var/cache/libvirt", "cache"},
}

const (
	libvirtdConf = `unix_sock_dir = "/run/libvirt"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
`
	virtlogdConf = `log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
`
	qemuConf = `user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
`
)

// qemuDriver is Debian's libvirt QEMU driver module.
const qemuDriver = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"

// Tools checks that every program the hosts need is installed; its error
// wraps ErrMissing and names the Debian package of the first missing.
func Tools() error {
	for _, p := range []struct{ bin, pkg string }{
		{"libvirtd", "libvirt-daemon"}, {"virtlogd", "libvirt-daemon"}, {"unshare", "util-linux"},
		{"qemu-system-x86_64", "qemu-system-x86"}, {"qemu-img", "qemu-utils"}, {"virsh", "libvirt-clients"},
	} {
		if _, err := exec.LookPath(p.bin); err != nil {
			return fmt.Errorf("%w: %s (Debian package %s): %w", ErrMissing, p.bin, p.pkg, err)
		}
	}
	if _, err := os.Stat(qemuDriver); err != nil {
		return fmt.Errorf("%w: libvirt's QEMU driver (Debian package libvirt-daemon-driver-qemu): %w", ErrMissing, err)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: root (the hosts bind-mount libvirt's system directories in namespaces of their own)", ErrMissing)
	}
	return nil
}

// StartHost starts host name's virtlogd and libvirtd with their private
// directories under dir and waits until libvirtd answers on its socket.
// The caller stops them with Stop, also after an error.
func StartHost(name, dir string) (h *Host, err error) {
	h = &Host{Name: name, Dir: dir}
	if err := Tools(); err != nil {
		return h, err
	}
	var binds []string
	for _, d := range systemDirs {
		own := filepath.Join(dir, d.own)
		// The mount points exist outside too: creating an empty libvirt
		// directory on the machine changes nothing there.
		for _, p := range []string{own, d.sys} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return h, fmt.Errorf("qemurig: host %s: %w", name, err)
			}
		}
		binds = append(binds, fmt.Sprintf("mount --bind '%s' '%s'", own, d.sys))
	}
	drivers := filepath.Join(dir, "drivers")
	if err := os.MkdirAll(drivers, 0o755); err != nil {
		return h, fmt.Errorf("qemurig: host %s: %w", name, err)
	}
	if err := os.Symlink(qemuDriver, filepath.Join(drivers, filepath.Base(qemuDriver))); err != nil && !errors.Is(err, os.ErrExist) {
		return h, fmt.Errorf("qemurig: host %s: %w", name, err)
	}
	etc := filepath.Join(dir, "etc")
	for f, body := range map[string]string{"libvirtd.conf": libvirtdConf, "virtlogd.conf": virtlogdConf, "qemu.conf": qemuConf} {
		if err := os.WriteFile(filepath.Join(etc, f), []byte(body), 0o644); err != nil {
			return h, fmt.Errorf("qemurig: host %s: %w", name, err)
		}
	}
	h.sock = filepath.Join(dir, "run", "libvirt-sock")
	h.URI = "qemu+unix:///system?socket=" + h.sock
	mounts := strings.Join(binds, " && ")
	h.virtlogd, err = h.spawn("virtlogd", mounts+" && exec virtlogd -f "+filepath.Join(etc, "virtlogd.conf")+" -p "+filepath.Join(dir, "virtlogd.pid"))
	if err != nil {
		return h, err
	}
	if err := waitFile(filepath.Join(dir, "run", "virtlogd-sock"), 10*time.Second); err != nil {
		return h, fmt.Errorf("qemurig: host %s: virtlogd (pid %d) %w; %s", name, h.virtlogd.Process.Pid, err, h.tail("virtlogd"))
	}
	h.libvirtd, err = h.spawn("libvirtd", mounts+" && exec libvirtd -f "+filepath.Join(etc, "libvirtd.conf")+" -p "+filepath.Join(dir, "libvirtd.pid"))
	if err != nil {
		return h, err
	}
	if err := waitFile(h.sock, 15*time.Second); err != nil {
		return h, fmt.Errorf("qemurig: host %s: libvirtd (pid %d) %w; %s", name, h.libvirtd.Process.Pid, err, h.tail("libvirtd"))
	}
	// The QEMU driver probes QEMU's capabilities (seconds) on first use
	// and caches them, as a long-running host has: probe now, so the first
	// start a test times is not the probe.
	out, err := exec.Command("virsh", "-q", "-c", h.URI, "capabilities").CombinedOutput()
	if err != nil {
		return h, fmt.Errorf("qemurig: host %s: virsh capabilities: %w: %s; %s", name, err, out, h.tail("libvirtd"))
	}
	return h, nil
}

// spawn runs script in a new private mount namespace; the shell execs the
// daemon, so the process is the daemon.
func (h *Host) spawn(what, script string) (*exec.Cmd, error) {
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "LIBVIRT_DRIVER_DIR="+filepath.Join(h.Dir, "drivers"))
	out, err := os.Create(filepath.Join(h.Dir, what+".out"))
	if err != nil {
		return nil, fmt.Errorf("qemurig: host %s: %w", h.Name, err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemurig: host %s: start %s: %w", h.Name, what, err)
	}
	return cmd, nil
}

// tail is the end of what's output and log, for errors.
func (h *Host) tail(what string) string {
	var b strings.Builder
	for _, f := range []string{filepath.Join(h.Dir, what+".out"), filepath.Join(h.Dir, "log", what+".log")} {
		data, _ := os.ReadFile(f)
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "%s:\n%s\n", f, data)
	}
	return b.String()
}

// QEMULog is the end of libvirt's log of domain name on this host (QEMU's
// command line and errors), for test failures.
func (h *Host) QEMULog(name string) string {
	data, _ := os.ReadFile(filepath.Join(h.Dir, "log", "qemu", name+".log"))
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

// Stop ends libvirtd, then virtlogd, by their PIDs (SIGTERM, then SIGKILL
// after 5 s). Guests still running are killed too: libvirtd leaves QEMU
// processes behind, so Stop kills each whose pid file is under this
// host's run directory.
func (h *Host) Stop() {
	for _, pidf := range h.qemuPIDFiles() {
		if b, err := os.ReadFile(pidf); err == nil {
			var pid int
			if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // it may be gone
			}
		}
	}
	for _, c := range []*exec.Cmd{h.libvirtd, h.virtlogd} {
		if c == nil || c.Process == nil || c.ProcessState != nil {
			continue
		}
		c.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may be gone
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }() //nolint:errcheck // stopped on purpose
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill() //nolint:errcheck // it may be gone
			<-done
		}
	}
}

// qemuPIDFiles are the pid files libvirtd keeps for running guests.
func (h *Host) qemuPIDFiles() []string {
	found, _ := filepath.Glob(filepath.Join(h.Dir, "run", "qemu", "*.pid"))
	return found
}

func waitFile(p string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return fmt.Errorf("made no %s within %v", p, timeout)
}

// RunningGuests counts the QEMU processes of this host that are alive,
// from the pid files libvirtd keeps (it removes them when a guest stops).
func (h *Host) RunningGuests() int {
	n := 0
	for _, pidf := range h.qemuPIDFiles() {
		b, err := os.ReadFile(pidf)
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 1 {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.HasPrefix(string(comm), "qemu-system") {
			n++
		}
	}
	return n
}
