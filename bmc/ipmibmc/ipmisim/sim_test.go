package ipmisim

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func start(t *testing.T, cfg Config) *Sim {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
	cfg.Dir = t.TempDir()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && syscall.Kill(pid, 0) == nil && len(b) > 0
}

// TestStopLeavesNothing: Stop ends ipmi_sim and the power child.
func TestStopLeavesNothing(t *testing.T) {
	s := start(t, Config{PoweredOn: true})
	child := s.PowerChild()
	sim := s.cmd.Process.Pid
	if child == 0 || !s.lanAnswers() {
		t.Fatalf("not running: child %d", child)
	}
	s.Stop()
	deadline := time.Now().Add(3 * time.Second)
	for alive(child) || s.lanAnswers() {
		if time.Now().After(deadline) {
			t.Fatalf("still running after Stop: child %d alive %v, sim %d", child, alive(child), sim)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop() // twice is fine
}

// TestKillRestart: a killed simulator is back on the same port.
func TestKillRestart(t *testing.T) {
	s := start(t, Config{})
	port := s.Port
	s.Kill()
	if s.lanAnswers() {
		t.Fatal("answers after Kill")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Port != port || !s.lanAnswers() {
		t.Fatalf("after Restart: port %d (was %d), answers %v", s.Port, port, s.lanAnswers())
	}
}

func TestConsole(t *testing.T) {
	s := start(t, Config{})
	if err := s.SetRaw(1, 0x80); err != nil {
		t.Fatal(err)
	}
	if err := s.Console("no_such_command 1"); err == nil {
		t.Error("unknown console command accepted")
	}
	if err := s.SetRaw(99, 1); err == nil {
		t.Error("setting a sensor that does not exist accepted")
	}
}

func TestSensorValues(t *testing.T) {
	for _, sn := range DefaultSensors() {
		if sn.RawFor(sn.Value(sn.Raw)) != sn.Raw {
			t.Errorf("%s: RawFor(Value(%d)) = %d", sn.Name, sn.Raw, sn.RawFor(sn.Value(sn.Raw)))
		}
		rec := sn.SDR(7)
		if len(rec) != 48+len(sn.Name) || int(rec[4]) != len(rec)-5 || rec[7] != sn.Number {
			t.Errorf("%s: SDR of %d bytes, length byte %d", sn.Name, len(rec), rec[4])
		}
	}
}
