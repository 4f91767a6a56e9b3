package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/filestore"
	"github.com/rackha/failover/rack/rackhttp"
)

// The public-bladed blade that is s2's BMC.
const rfSystem = "529QB9450R6"

// realRack is a rack manager and two monitors as separate processes on
// loopback: s1's BMC is ipmi_sim, s2's the Redfish test server on a DMTF
// mockup, each server's hypervisor a libvirt test-driver host of its own
// (its state lives in its monitor's process, as a host's lives with its
// power), and the image store a shared directory.
type realRack struct {
	t        *testing.T
	dir, cfg string
	ipmi     *ipmisim.Sim
	rf       *redfishsim.Server
	store    *filestore.Store
	log      *demoLog
	env      []string
	rm       *child
	monitors map[string]*child
}

// needSims skips without ipmi_sim or the shared mockups, and fails
// instead when CI=true.
func needSims(t *testing.T) string {
	t.Helper()
	miss := func(err error) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skip(err)
	}
	if err := ipmisim.Available(); err != nil {
		miss(err)
	}
	dir, err := redfishsim.MockupDir("public-bladed")
	if err != nil {
		miss(err)
	}
	return dir
}

func newRealRack(t *testing.T) *realRack {
	mockups := needSims(t)
	dir := t.TempDir()
	r := &realRack{t: t, dir: dir, log: newDemoLog(io.Discard, true), monitors: map[string]*child{}}
	simDir := filepath.Join(dir, "ipmi")
	os.Mkdir(simDir, 0o700)
	sim, err := ipmisim.Start(ipmisim.Config{Dir: simDir, PoweredOn: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Stop)
	r.ipmi = sim
	rf, err := redfishsim.New(mockups, redfishsim.Options{Username: "admin", Password: "rf-Secret1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rf.Close)
	r.rf = rf
	certs, err := makeCerts(filepath.Join(dir, "tls"), []string{"s1", "s2", "s3"}, "ops", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pwFile := write("s1-bmc.pw", sim.Password()+"\n", 0o600)
	rfCA := write("rf-ca.pem", string(rf.CertPEM()), 0o644)
	r.env = []string{"S2_BMC_PW=rf-Secret1"}
	disks := filepath.Join(dir, "disks")
	os.Mkdir(disks, 0o700)
	node := `<node><cpu><mhz>2400</mhz><model>x86_64</model><active>8</active><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads></cpu><memory>16777216</memory></node>`
	s1Node, s2Node := write("s1.xml", node, 0o600), write("s2.xml", node, 0o600)
	store, err := filestore.Open(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	r.store = store
	for i, vm := range []struct{ name, owner string }{{"vm-a1", "s1"}, {"vm-a2", "s1"}, {"vm-b1", "s2"}} {
		disk := filepath.Join(disks, vm.name+".qcow2")
		write(filepath.Join("disks", vm.name+".qcow2"), "", 0o600)
		def := fmt.Sprintf(`<domain type='test'><name>%s</name><uuid>6f1d3c5e-7a1b-4c2d-9e0f-a1b2c3d4e5%02d</uuid><memory unit='MiB'>512</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'><source file='%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>`, vm.name, i, disk)
		if _, err := store.Put(context.Background(), imagestore.Image{Name: vm.name, Definition: []byte(def), Disks: []string{disk}, Owner: vm.owner, MemoryMiB: 512, CPUs: 1}); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(sim.Addr())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rmAddr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`topology: pairs
servers:
  - name: s1
    bmc: {kind: ipmi, address: "%s:%s", user: %s, password_file: %q, cipher_suite: 3, timeout: 500ms, watchdog_pretimeout: true}
    hypervisor: {kind: libvirt, uri: "test://%s", image_dirs: [%q]}
    watchdog: {kind: ipmi-lan, timeout: 20s, interval: 2s}
    tls: {cert: %q, key: %q}
  - name: s2
    bmc: {kind: redfish, url: %q, user: admin, password_env: S2_BMC_PW, ca_file: %q, system: %s, timeout: 2s}
    hypervisor: {kind: libvirt, uri: "test://%s", image_dirs: [%q]}
    watchdog: {kind: none}
    tls: {cert: %q, key: %q}
rack_manager:
  listen: %q
  url: "https://%s"
  tls: {cert: %q, key: %q}
  operators: [ops]
  interval: 250ms
  fast_interval: 125ms
  power_timeout: 20s
image_store: {kind: file, dir: %q}
tls: {ca: %q}
operator: {cert: %q, key: %q}
monitor: {action_timeout: 20s, tick_interval: 250ms}
policy: {debounce_polls: 3, max_status_gap: 1s, fast_dwell: 300ms, fence_settle: 200ms, retry_interval: 1s}
log: {format: json, level: debug, events: true}
`, host, port, sim.User(), pwFile, s1Node, disks, certs.Cert("s1"), certs.Key("s1"),
		rf.URL, rfCA, rfSystem, s2Node, disks, certs.Cert("s2"), certs.Key("s2"),
		rmAddr, rmAddr, certs.Cert(rackManagerName), certs.Key(rackManagerName),
		filepath.Join(dir, "images"), certs.CA(), certs.Cert("ops"), certs.Key("ops"))
	r.cfg = write("rack.yaml", cfg, 0o600)
	if _, err := LoadConfig(r.cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stopAll)
	return r
}

func (r *realRack) startRackManager() {
	r.t.Helper()
	c, err := startChild(needBinary(r.t), r.dir, r.cfg, "rack-manager", "", r.env, r.log.line)
	if err != nil {
		r.t.Fatal(err)
	}
	r.rm = c
	cfg, _ := LoadConfig(r.cfg)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c.exited() {
			r.t.Fatalf("rack manager exited:\n%s", r.logOf("rack-manager"))
		}
		if conn, err := net.Dial("tcp", cfg.RackManager.Listen); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("rack manager does not listen:\n%s", r.logOf("rack-manager"))
		}
	}
}

func (r *realRack) startMonitor(server string) *child {
	r.t.Helper()
	c, err := startChild(needBinary(r.t), r.dir, r.cfg, "monitor", server, r.env, r.log.line)
	if err != nil {
		r.t.Fatal(err)
	}
	r.monitors[server] = c
	r.wait(10*time.Second, "monitor "+server+" starts", func(_ []demoEvent, started map[string]int) bool { return started[server] == c.pid() })
	return c
}

func (r *realRack) logOf(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, name+".log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// wait fails the test when cond does not hold within d.
func (r *realRack) wait(d time.Duration, what string, cond func([]demoEvent, map[string]int) bool) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := r.log.wait(ctx, what, cond); err != nil {
		evs, _, _ := r.log.snapshot()
		var b strings.Builder
		for _, e := range evs {
			fmt.Fprintf(&b, "  pid %d %v\n", e.PID, e.Ev)
		}
		r.t.Fatalf("%v\nevents:\n%s\nrack manager log:\n%s\ns1 log:\n%s\ns2 log:\n%s", err, b.String(), r.logOf("rack-manager"), r.logOf("s1"), r.logOf("s2"))
	}
}

// event: an event of typ about server (and vm, if set) by pid (any when 0).
func event(typ failover.EventType, server, vm string, pid int) func([]demoEvent, map[string]int) bool {
	return func(evs []demoEvent, _ map[string]int) bool {
		for _, e := range evs {
			if e.Ev.Type == typ && e.Ev.Server == server && (vm == "" || e.Ev.VM == vm) && (pid == 0 || e.PID == pid) {
				return true
			}
		}
		return false
	}
}

func (r *realRack) eventsSnapshot() []demoEvent {
	evs, _, _ := r.log.snapshot()
	return evs
}

func (r *realRack) owner(vm string) string {
	img, err := r.store.Get(context.Background(), vm)
	if err != nil {
		r.t.Fatal(err)
	}
	return img.Owner
}

func (r *realRack) stopAll() {
	for _, m := range r.monitors {
		m.stop(10 * time.Second)
	}
	if r.rm != nil {
		r.rm.stop(10 * time.Second)
	}
}

// ipmiPower powers s1 through its BMC, as the fault.
func (r *realRack) ipmiPower(a bmc.PowerAction) {
	r.t.Helper()
	host, port, _ := net.SplitHostPort(r.ipmi.Addr())
	cfg := ipmibmc.DefaultConfig(host, r.ipmi.User(), r.ipmi.Password())
	fmt.Sscan(port, &cfg.Port)
	cfg.CipherSuite = 3
	b, err := ipmibmc.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.SetPower(ctx, a); err != nil {
		r.t.Fatalf("ipmi_sim power %v: %v", a, err)
	}
}

// TestMultiProcessTakeovers runs the daemon as the issue lays it out and
// goes through: a takeover end to end (s2's Redfish blade loses power,
// s1's monitor fences it, starts its VM and restarts it); SIGKILL of the
// rack manager, then restart; s1 (ipmi_sim) loses power and s2's monitor
// is killed with SIGKILL mid-takeover and restarted, and the takeover
// completes; SIGTERM stops every process cleanly.
func TestMultiProcessTakeovers(t *testing.T) {
	r := newRealRack(t)
	r.startRackManager()
	s1 := r.startMonitor("s1")
	s2 := r.startMonitor("s2")
	// At boot each monitor starts the VMs it owns on its own host.
	r.wait(20*time.Second, "s1 starts its VMs", func(evs []demoEvent, m map[string]int) bool {
		return event(failover.EventReconciled, "s1", "vm-a1", s1.pid())(evs, m) && event(failover.EventReconciled, "s1", "vm-a2", s1.pid())(evs, m)
	})
	r.wait(20*time.Second, "s2 starts its VM", event(failover.EventReconciled, "s2", "vm-b1", s2.pid()))
	time.Sleep(time.Second) // healthy statuses first

	t.Run("takeover", func(t *testing.T) {
		// s2's blade loses power: its monitor dies with it.
		s2.kill()
		if err := r.rf.Set("/redfish/v1/Systems/"+rfSystem, map[string]any{"PowerState": "Off"}); err != nil {
			t.Fatal(err)
		}
		r.wait(30*time.Second, "s1 detects s2", event(failover.EventDetected, "s2", "", s1.pid()))
		r.wait(30*time.Second, "s1 fences s2", event(failover.EventFenced, "s2", "", s1.pid()))
		r.wait(30*time.Second, "s1 starts vm-b1", event(failover.EventBackupStarted, "s2", "vm-b1", s1.pid()))
		r.wait(30*time.Second, "s1 restarts s2", event(failover.EventRestarted, "s2", "", s1.pid()))
		if o := r.owner("vm-b1"); o != "s1" {
			t.Errorf("vm-b1 owned by %q, want s1", o)
		}
		st, _ := r.rf.Get("/redfish/v1/Systems/" + rfSystem)
		if st["PowerState"] != "On" {
			t.Errorf("s2 PowerState %v after the restart, want On", st["PowerState"])
		}
		s2 = r.startMonitor("s2") // s2 booted
	})
	t.Run("rack manager SIGKILL and restart", func(t *testing.T) {
		r.rm.kill()
		time.Sleep(500 * time.Millisecond)
		r.startRackManager()
		// The monitors watch again: the next takeover needs the new one.
	})
	t.Run("monitor SIGKILL mid-takeover", func(t *testing.T) {
		s1.kill() // s1 dies with its power
		r.ipmiPower(bmc.PowerActionOff)
		r.wait(30*time.Second, "s2 detects s1", event(failover.EventDetected, "s1", "", s2.pid()))
		r.wait(30*time.Second, "s2 fences s1", event(failover.EventFenced, "s1", "", s2.pid()))
		killed := s2.pid()
		s2.kill()
		s2 = r.startMonitor("s2")
		// s1 ran its own two VMs and vm-b1, taken over from s2 before.
		for _, vm := range []string{"vm-a1", "vm-a2", "vm-b1"} {
			r.wait(40*time.Second, "restarted s2 starts "+vm, event(failover.EventBackupStarted, "s1", vm, s2.pid()))
		}
		r.wait(30*time.Second, "restarted s2 restarts s1", event(failover.EventRestarted, "s1", "", s2.pid()))
		s1 = r.startMonitor("s1") // s1 booted
		for _, vm := range []string{"vm-a1", "vm-a2", "vm-b1"} {
			if o := r.owner(vm); o != "s2" {
				t.Errorf("%s owned by %q, want s2", vm, o)
			}
		}
		evs, _, _ := r.log.snapshot()
		for _, e := range evs {
			if e.PID == killed && e.Ev.Type == failover.EventBackupStarted && e.Ev.Server == "s1" {
				t.Logf("the killed monitor had started %s", e.Ev.VM)
			}
		}
	})
	t.Run("stream that stalls", func(t *testing.T) {
		// The rack manager freezes (SIGSTOP): the monitors see their
		// streams stall, reconnect, and take nothing over meanwhile.
		// A stream that carries nothing, or a reconnect that gets no
		// answer, is a stall; count them in each monitor's whole log.
		stalls := func(server string) int {
			b, _ := os.ReadFile(filepath.Join(r.dir, server+".log"))
			return strings.Count(string(b), "stream stalled") + strings.Count(string(b), "no answer within")
		}
		s1Before, s2Before := stalls("s1"), stalls("s2")
		before := len(r.eventsSnapshot())
		r.rm.signal(syscall.SIGSTOP)
		deadline := time.Now().Add(15 * time.Second)
		for stalls("s1") == s1Before || stalls("s2") == s2Before {
			if time.Now().After(deadline) {
				r.rm.signal(syscall.SIGCONT)
				t.Fatalf("no stall seen:\ns1:\n%s\ns2:\n%s", r.logOf("s1"), r.logOf("s2"))
			}
			time.Sleep(100 * time.Millisecond)
		}
		r.rm.signal(syscall.SIGCONT)
		for _, e := range r.eventsSnapshot()[before:] {
			if e.Ev.Type != failover.EventAlert {
				t.Errorf("during the stall: %v", e.Ev)
			}
		}
	})
	t.Run("status", func(t *testing.T) {
		var rep statusReport
		deadline := time.Now().Add(15 * time.Second)
		for {
			out, err := exec.Command(needBinary(t), "status", "-config", r.cfg, "-json").Output()
			var ee *exec.ExitError
			if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 3) { // 3: not all well yet
				t.Fatalf("status: %v", err)
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("status -json: %v\n%s", err, out)
			}
			on := 0
			for _, s := range rep.Servers {
				if s.Power == "on" && s.Reachable && len(s.Readings) > 0 {
					on++
				}
			}
			armed := false
			for _, s := range rep.Servers {
				// s1's monitor armed ipmi_sim's watchdog over the LAN (the
				// rack manager's reads cannot tell whether it runs: ipmi_sim
				// reports no countdown).
				armed = armed || (s.Name == "s1" && strings.Contains(s.Watchdog, "timeout 20s, power-down"))
			}
			if len(rep.Servers) == 2 && on == 2 && armed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status: want both servers on, reachable, with readings, s1's watchdog armed by its monitor: %s\ns1 log:\n%s", out, r.logOf("s1"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, s := range rep.Servers {
			for _, rd := range s.Readings {
				if rd.Level == "" {
					t.Errorf("%s %s: no level", s.Name, rd.Name)
				}
			}
		}
		out, err := exec.Command(needBinary(t), "status", "-config", r.cfg, "-server", "s2").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SERVER") || !strings.Contains(string(out), "s1 readings") {
			t.Fatalf("status table as s2: %v\n%s", err, out)
		}
	})
	t.Run("wrong certificate refused", func(t *testing.T) {
		// s2's monitor presenting s1's certificate, then s3's (a name
		// outside the topology): the rack manager refuses the watch and
		// the monitor exits 1 saying so.
		text, _ := os.ReadFile(r.cfg)
		s2cert := filepath.Join(r.dir, "tls", "s2.pem")
		s2key := filepath.Join(r.dir, "tls", "s2-key.pem")
		for _, as := range []string{"s1", "s3"} {
			bad := strings.NewReplacer(s2cert, filepath.Join(r.dir, "tls", as+".pem"), s2key, filepath.Join(r.dir, "tls", as+"-key.pem")).Replace(string(text))
			path := filepath.Join(r.dir, "as-"+as+".yaml")
			if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(needBinary(t), "monitor", "-config", path, "-server", "s2")
			cmd.Env = append(os.Environ(), r.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "forbidden") {
				t.Errorf("s2 as %s: %v\n%s", as, err, out)
			}
		}
		// A server may power only what it watches: s2 watches s1, not s2.
		files, err := rackhttp.LoadFiles(s2cert, s2key, filepath.Join(r.dir, "tls", "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := LoadConfig(r.cfg)
		cc := rackhttp.DefaultClientConfig()
		cc.URL, cc.TLS, cc.Logger = cfg.RackManager.URL, rackhttp.ClientTLS(files, "127.0.0.1"), discardLogger()
		c, err := rackhttp.NewClient(cc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = c.Power(ctx, "s2", bmc.PowerActionOff)
		if !errors.Is(err, rackhttp.ErrForbidden) || errors.Is(err, bmc.ErrIndeterminate) {
			t.Errorf("s2 fencing itself: %v, want forbidden", err)
		}
		st, _ := r.rf.Get("/redfish/v1/Systems/" + rfSystem)
		if st["PowerState"] != "On" {
			t.Errorf("s2 PowerState %v after a refused power-off", st["PowerState"])
		}
		if !strings.Contains(r.logOf("rack-manager"), "audit") {
			t.Errorf("refused power request not audited:\n%s", r.logOf("rack-manager"))
		}
	})
	t.Run("SIGHUP reloads certificates", func(t *testing.T) {
		logged := func(what string) {
			t.Helper()
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(r.logOf("rack-manager"), what) {
				if time.Now().After(deadline) {
					t.Fatalf("%q not logged:\n%s", what, r.logOf("rack-manager"))
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		r.rm.signal(syscall.SIGHUP)
		logged("certificates reloaded")
		// A broken certificate file: the reload fails, the old pair stays
		// and the rack manager keeps serving.
		certFile := filepath.Join(r.dir, "tls", rackManagerName+".pem")
		good, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(certFile, []byte("not a certificate"), 0o644); err != nil {
			t.Fatal(err)
		}
		r.rm.signal(syscall.SIGHUP)
		logged("reload failed; the old certificates stay")
		if out, err := exec.Command(needBinary(t), "status", "-config", r.cfg).CombinedOutput(); err != nil {
			t.Errorf("status after a failed reload: %v\n%s", err, out)
		}
		if err := os.WriteFile(certFile, good, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("SIGTERM stops cleanly", func(t *testing.T) {
		for _, c := range []*child{s1, s2, r.rm} {
			c.signal(syscall.SIGTERM)
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s did not stop on SIGTERM", c.name)
			}
			if code := c.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("%s exited %d on SIGTERM:\n%s", c.name, code, r.logOf(c.name))
			}
		}
	})
}

// TestAllInOneProcess: `failoverd all` runs the rack manager and both
// monitors in one process; a takeover still happens.
func TestAllInOneProcess(t *testing.T) {
	r := newRealRack(t)
	c, err := startChild(needBinary(t), r.dir, r.cfg, "all", "", r.env, r.log.line)
	if err != nil {
		t.Fatal(err)
	}
	r.rm = c
	r.wait(20*time.Second, "both monitors start their VMs", func(evs []demoEvent, m map[string]int) bool {
		return event(failover.EventReconciled, "s1", "vm-a2", c.pid())(evs, m) && event(failover.EventReconciled, "s2", "vm-b1", c.pid())(evs, m)
	})
	time.Sleep(time.Second)
	if err := r.rf.Set("/redfish/v1/Systems/"+rfSystem, map[string]any{"PowerState": "Off"}); err != nil {
		t.Fatal(err)
	}
	r.wait(30*time.Second, "s1 starts vm-b1", event(failover.EventBackupStarted, "s2", "vm-b1", c.pid()))
	r.wait(30*time.Second, "s1 restarts s2", event(failover.EventRestarted, "s2", "", c.pid()))
	if o := r.owner("vm-b1"); o != "s1" {
		t.Errorf("vm-b1 owned by %q, want s1", o)
	}
	c.signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("all did not stop on SIGTERM")
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("all exited %d on SIGTERM:\n%s", code, r.logOf("all"))
	}
}

// TestRackManagerStartsWithABMCDown: a Redfish BMC that does not answer
// when the rack manager starts is polled as unreachable; the others are
// served.
func TestRackManagerStartsWithABMCDown(t *testing.T) {
	r := newRealRack(t)
	text, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + ln.Addr().String()
	ln.Close()
	if err := os.WriteFile(r.cfg, []byte(strings.Replace(string(text), r.rf.URL, dead, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r.startRackManager()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command(needBinary(t), "status", "-config", r.cfg, "-json").Output()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("status with a BMC down: %v, want exit status 3", err)
		}
		var rep statusReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("status: %v\n%s", err, out)
		}
		byName := map[string]serverReport{}
		for _, s := range rep.Servers {
			byName[s.Name] = s
		}
		s1, s2 := byName["s1"], byName["s2"]
		if s1.Reachable && s1.Power == "on" && s2.Polled != nil && !s2.Reachable {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want s1 reachable and on, s2 polled and unreachable: %s\n%s", out, r.logOf("rack-manager"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
