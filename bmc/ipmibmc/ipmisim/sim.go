package ipmisim

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config describes one simulated BMC.
type Config struct {
	// Dir holds the configuration and state; it must exist. Tests pass
	// t.TempDir(). Required.
	Dir string
	// Name of the instance. Default "bmc".
	Name string
	// User and Password of the admin user. Default "admin" / "secret".
	User, Password string
	// Sensors of the BMC. Default DefaultSensors().
	Sensors []Sensor
	// PoweredOn starts the power child process at once, so the chassis
	// reads "on". Default false: set it for power and watchdog tests.
	PoweredOn bool
	// KillWait is how long ipmi_sim waits after SIGTERM before it sends
	// SIGKILL to the power child on power off. Default 1 s.
	KillWait time.Duration
	// ChassisScript routes Chassis Control and the power bit of Get
	// Chassis Status through a script (ipmi_sim's own chassis_control
	// program), which starts and ends the power child itself and can
	// report a stale state (ReportStaleOff). The watchdog's power actions
	// bypass it (ipmi_sim carries them out on the child it started
	// itself), so leave it off in watchdog tests. Default false.
	ChassisScript bool
}

// Sim is a running ipmi_sim.
type Sim struct {
	cfg     Config
	Port    int // UDP port of the LAN channel on 127.0.0.1
	console int // TCP port of the console
	serial  int // TCP port of the (unused) VM serial interface

	mu     sync.Mutex
	cmd    *exec.Cmd
	waited chan struct{}
	pgids  []int
}

// Available reports whether ipmi_sim can be started here.
func Available() error {
	if _, err := exec.LookPath("ipmi_sim"); err != nil {
		return fmt.Errorf("ipmisim: ipmi_sim not found (Debian package openipmi): %w", err)
	}
	return nil
}

// Start writes the configuration into cfg.Dir and starts ipmi_sim on free
// loopback ports; it returns once the LAN port answers.
func Start(cfg Config) (*Sim, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, errors.New("ipmisim: Config.Dir is required")
	}
	if cfg.Name == "" {
		cfg.Name = "bmc"
	}
	if cfg.User == "" {
		cfg.User = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = "secret"
	}
	if cfg.Sensors == nil {
		cfg.Sensors = DefaultSensors()
	}
	if cfg.KillWait <= 0 {
		cfg.KillWait = time.Second
	}
	// A port found free may be taken by someone else before ipmi_sim
	// binds it: try again with new ports.
	var err error
	for range 5 {
		s := &Sim{cfg: cfg}
		if err = s.pickPorts(); err != nil {
			return nil, err
		}
		if err = s.write(); err != nil {
			return nil, err
		}
		if err = s.start(); err == nil && cfg.PoweredOn {
			err = s.waitPowered()
		}
		if err == nil {
			return s, nil
		}
		s.Stop()
		if !strings.Contains(err.Error(), "in use") {
			return nil, err
		}
	}
	return nil, err
}

func (s *Sim) pickPorts() error {
	var err error
	if s.Port, err = freePort("udp"); err != nil {
		return err
	}
	if s.console, err = freePort("tcp"); err != nil {
		return err
	}
	s.serial, err = freePort("tcp")
	return err
}

// Addr is the LAN channel's host:port.
func (s *Sim) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// User and Password of the admin user.
func (s *Sim) User() string     { return s.cfg.User }
func (s *Sim) Password() string { return s.cfg.Password }

// Sensors returns the sensors the simulator was started with.
func (s *Sim) Sensors() []Sensor { return append([]Sensor(nil), s.cfg.Sensors...) }

func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("ipmisim: free UDP port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("ipmisim: free TCP port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Sim) path(name string) string { return filepath.Join(s.cfg.Dir, name) }

// write creates lan.conf, the .emu file and the power child script.
func (s *Sim) write() error {
	child := fmt.Sprintf(`#!/bin/sh
# Power child of ipmi_sim: "on" while it runs. It ends by itself when
# ipmi_sim (its parent, or the PID given) goes away, so a killed
# simulator leaves nothing behind.
echo $$ > %q.tmp && mv %q.tmp %q
trap 'exit 0' TERM
watch=${1:-$PPID}
while kill -0 "$watch" 2>/dev/null; do sleep 0.2; done
`, s.path("child.pid"), s.path("child.pid"), s.path("child.pid"))
	if err := os.WriteFile(s.path("child.sh"), []byte(child), 0o755); err != nil {
		return fmt.Errorf("ipmisim: %w", err)
	}
	chassisLine := ""
	if s.cfg.ChassisScript {
		if err := os.WriteFile(s.path("chassis.sh"), []byte(s.chassisScript()), 0o755); err != nil {
			return fmt.Errorf("ipmisim: %w", err)
		}
		chassisLine = fmt.Sprintf("  chassis_control %q\n", s.path("chassis.sh"))
	}
	startnow := "false"
	if s.cfg.PoweredOn {
		startnow = "true"
	}
	lan := fmt.Sprintf(`name %q
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
  serial 15 127.0.0.1 %d codec VM
  startcmd %q
  startnow %s
  poweroff_wait 0
  kill_wait %d
%s  user 2 true %q %q admin 10 md5
console 127.0.0.1 %d
`, s.cfg.Name, s.Port, s.serial, s.path("child.sh"), startnow, int(s.cfg.KillWait.Seconds()+0.5), chassisLine, s.cfg.User, s.cfg.Password, s.console)
	if err := os.WriteFile(s.path("lan.conf"), []byte(lan), 0o600); err != nil {
		return fmt.Errorf("ipmisim: %w", err)
	}
	var emu strings.Builder
	emu.WriteString("mc_setbmc 0x20\n")
	emu.WriteString("mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n")
	emu.WriteString("sel_enable 0x20 1000 0x0a\n")
	// Sensor 0 is the watchdog (Watchdog 2, sensor-specific): without it
	// ipmi_sim never carries out a watchdog expiry.
	emu.WriteString("sensor_add 0x20 0 0 0x23 0x6f\n")
	// Log its expiry, hard reset, power down, power cycle and interrupt
	// events (offsets 0-3 and 8) into the SEL.
	emu.WriteString("sensor_set_event_support 0x20 0 0 enable scanning per-state 000000100001111 000000000000000 000000100001111 000000000000000\n")
	for i, sn := range s.cfg.Sensors {
		emu.WriteString(sensorLines(sn, uint16(i+1)))
	}
	emu.WriteString("mc_enable 0x20\n")
	if err := os.WriteFile(s.path("bmc.emu"), []byte(emu.String()), 0o600); err != nil {
		return fmt.Errorf("ipmisim: %w", err)
	}
	return os.MkdirAll(s.path("state"), 0o700)
}

// sensorLines are the emulator commands that create sn with record id.
func sensorLines(sn Sensor, id uint16) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sensor_add 0x20 0 %d %#02x 0x01\n", sn.Number, sn.Type)
	b.WriteString("main_sdr_add 0x20")
	for _, x := range sn.SDR(id) {
		fmt.Fprintf(&b, " 0x%02x", x)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "sensor_set_value 0x20 0 %d %#02x 0\n", sn.Number, sn.Raw)
	// Mask and values run UNR, UCR, UNC, LNR, LCR, LNC.
	var mask strings.Builder
	for i := 5; i >= 0; i-- {
		if sn.Mask&(1<<i) != 0 {
			mask.WriteByte('1')
		} else {
			mask.WriteByte('0')
		}
	}
	t := sn.Thresholds
	fmt.Fprintf(&b, "sensor_set_threshold 0x20 0 %d settable %s %#02x %#02x %#02x %#02x %#02x %#02x\n",
		sn.Number, mask.String(), t[5], t[4], t[3], t[2], t[1], t[0])
	fmt.Fprintf(&b, "sensor_set_event_support 0x20 0 %d enable scanning per-state 000111111111111 000111111111111 000111111111111 000111111111111\n", sn.Number)
	return b.String()
}

// start runs ipmi_sim and waits until its ports are open.
func (s *Sim) start() error {
	cmd := exec.Command("ipmi_sim", "-c", s.path("lan.conf"), "-f", s.path("bmc.emu"), "-s", s.path("state"), "-n")
	cmd.Dir = s.cfg.Dir
	log, err := os.OpenFile(s.path("ipmi_sim.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("ipmisim: %w", err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ipmisim: start ipmi_sim: %w", err)
	}
	// The chassis script starts power children that watch ipmi_sim.
	if err := os.WriteFile(s.path("sim.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("ipmisim: %w", err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	s.mu.Lock()
	s.cmd, s.waited = cmd, waited
	s.pgids = append(s.pgids, cmd.Process.Pid)
	s.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case <-waited:
			out, _ := os.ReadFile(s.path("ipmi_sim.log"))
			return fmt.Errorf("ipmisim: ipmi_sim exited at start: %s", strings.TrimSpace(string(out)))
		default:
		}
		if s.lanAnswers() {
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return errors.New("ipmisim: ipmi_sim did not answer on its LAN port within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends ipmi_sim at once (SIGKILL), as a crashing BMC would; the
// power child ends by itself shortly after. Restart brings it back.
func (s *Sim) Kill() {
	s.mu.Lock()
	cmd, waited := s.cmd, s.waited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-waited
}

// Restart starts ipmi_sim again on the same ports with the same
// configuration (a BMC reboot); sensors added at run time are gone.
func (s *Sim) Restart() error {
	s.Kill()
	return s.start()
}

// Stop kills ipmi_sim and its power child; safe to call twice.
func (s *Sim) Stop() {
	s.Kill()
	s.mu.Lock()
	pgids := s.pgids
	s.pgids = nil
	s.mu.Unlock()
	if pid, ok := s.childPID(); ok {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, g := range pgids {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
}

// childPID reads the power child's PID file.
func (s *Sim) childPID() (int, bool) {
	b, err := os.ReadFile(s.path("child.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// PowerChild returns the PID of the running power child, or 0 when the
// simulated server is off.
func (s *Sim) PowerChild() int {
	pid, ok := s.childPID()
	if !ok {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// State is the field after the parenthesised command name.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return 0
	}
	return pid
}

// Console sends one emulator command (the .emu syntax) through the
// console port and returns an error if the simulator refused it.
func (s *Sim) Console(command string) error {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.console), time.Second)
	if err != nil {
		return fmt.Errorf("ipmisim: console: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	r := bufio.NewReader(c)
	if err := readPrompt(r, nil); err != nil {
		return fmt.Errorf("ipmisim: console: %w", err)
	}
	if _, err := c.Write([]byte(command + "\n")); err != nil {
		return fmt.Errorf("ipmisim: console: %w", err)
	}
	var out strings.Builder
	if err := readPrompt(r, &out); err != nil {
		return fmt.Errorf("ipmisim: console %q: %w", command, err)
	}
	if i := strings.Index(out.String(), "**"); i >= 0 {
		return fmt.Errorf("ipmisim: console %q: %s", command, strings.TrimSpace(out.String()[i+2:]))
	}
	return nil
}

// readPrompt reads until the "> " prompt, copying text to out.
func readPrompt(r *bufio.Reader, out *strings.Builder) error {
	var last byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if out != nil {
			out.WriteByte(b)
		}
		if last == '>' && b == ' ' {
			return nil
		}
		last = b
	}
}

// SetRaw sets sensor number n to raw and generates its threshold events.
func (s *Sim) SetRaw(n, raw uint8) error {
	return s.Console(fmt.Sprintf("sensor_set_value 0x20 0 %d %#02x 1", n, raw))
}

// AddSensor adds sn at run time, with SDR record id, as a hot-plugged
// part would.
func (s *Sim) AddSensor(sn Sensor, id uint16) error {
	for _, line := range strings.Split(strings.TrimSpace(sensorLines(sn, id)), "\n") {
		if err := s.Console(line); err != nil {
			return err
		}
	}
	return nil
}

// authCaps is an IPMI 1.5 Get Channel Authentication Capabilities request
// outside a session: the first packet every client sends.
var authCaps = []byte{0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x09,
	0x20, 0x18, 0xc8, 0x81, 0x00, 0x38, 0x0e, 0x04, 0x35}

// lanAnswers reports whether the LAN port answers a request.
func (s *Sim) lanAnswers() bool {
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.Write(authCaps); err != nil {
		return false
	}
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	return err == nil && n > 0
}

// waitPowered waits until the power child has started.
func (s *Sim) waitPowered() error {
	deadline := time.Now().Add(5 * time.Second)
	for s.PowerChild() == 0 {
		if time.Now().After(deadline) {
			return errors.New("ipmisim: the power child did not start within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// WaitPowerChild waits until a power child other than not runs (0 for
// any) and returns its PID, or 0 after timeout.
func (s *Sim) WaitPowerChild(not int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		if pid := s.PowerChild(); pid != 0 && pid != not {
			return pid
		}
		if time.Now().After(deadline) {
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}
