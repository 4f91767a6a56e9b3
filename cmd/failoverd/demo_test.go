package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackha/failover"
)

// The acceptance: `failoverd demo -json` exits 0, and for each of
// the four failure modes its output shows a detection, a fence or an
// evacuation, every VM of the failed server started on its watcher and a
// restart, each decided by a process other than the rack manager's (and
// the demo's own), with a monitor killed and the rack manager restarted
// on the way.
func TestDemoJSON(t *testing.T) {
	start := time.Now()
	// -hold keeps the rack up after the result, for `failoverd status`.
	cmd := exec.Command(needBinary(t), "demo", "-json", "-hold")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() //nolint:errcheck // a failed test's leftover
	var out bytes.Buffer
	var held struct {
		Type   string `json:"type"`
		Config string `json:"config"`
	}
	rd := bufio.NewScanner(pipe)
	for rd.Scan() {
		if json.Unmarshal(rd.Bytes(), &held); held.Type == "hold" {
			break
		}
		out.Write(rd.Bytes())
		out.WriteByte('\n')
	}
	if held.Type != "hold" {
		cmd.Wait() //nolint:errcheck // the output says why
		t.Fatalf("demo ended without holding\nstderr:\n%s\nstdout:\n%s", errOut.String(), out.String())
	}
	// About 20 s here; "about a minute" leaves room for a loaded CI.
	if d := time.Since(start); d > 90*time.Second {
		t.Errorf("demo took %v, want about a minute at most", d)
	}
	// The deploy section's check works against the demo's rack.
	st, err := exec.Command(needBinary(t), "status", "-config", held.Config).CombinedOutput()
	if err != nil || !strings.Contains(string(st), "s1 readings") || !strings.Contains(string(st), "s2 readings") {
		t.Errorf("status on the demo: %v\n%s", err, st)
	}
	js, err := exec.Command(needBinary(t), "status", "-config", held.Config, "-json").Output()
	var rep statusReport
	if err == nil {
		err = json.Unmarshal(js, &rep)
	}
	if err != nil || len(rep.Servers) != 2 {
		t.Fatalf("status -json on the demo: %v\n%s", err, js)
	}
	for _, s := range rep.Servers {
		if !s.Reachable || s.Power != "on" || s.Failed || len(s.Readings) == 0 {
			t.Errorf("held demo: %s reachable=%v power=%s failed=%v, %d readings, want a healthy server", s.Name, s.Reachable, s.Power, s.Failed, len(s.Readings))
		}
	}
	cmd.Process.Signal(syscall.SIGINT) //nolint:errcheck // checked by Wait
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo after SIGINT: %v\n%s", err, errOut.String())
	}
	checkDemoOutput(t, &out)
}

// TestDemoRing4: the demo on a ring of four servers (plain exit, no hold).
func TestDemoRing4(t *testing.T) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(needBinary(t), "demo", "-json", "-servers", "4")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo -servers 4: %v\n%s", err, errOut.String())
	}
	checkDemoOutput(t, &out)
}

// checkDemoOutput checks the acceptance on the demo's JSON lines.
func checkDemoOutput(t *testing.T, out *bytes.Buffer) {
	t.Helper()
	type line struct {
		PID       int      `json:"pid"`
		Type      string   `json:"type"`
		Server    string   `json:"server"`
		Fault     string   `json:"fault"`
		VMs       []string `json:"vms"`
		Action    string   `json:"action"`
		OK        bool     `json:"ok"`
		RackPIDs  []int    `json:"rack_manager_pids"`
		KilledPID int      `json:"killed_pid"`
	}
	var lines []line
	var evs []failover.Event
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		if l.PID == 0 {
			t.Fatalf("line without pid: %s", sc.Text())
		}
		var ev failover.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		lines, evs = append(lines, l), append(evs, ev)
	}
	if len(lines) == 0 {
		t.Fatal("no output")
	}
	last := lines[len(lines)-1]
	if last.Type != "result" || !last.OK {
		t.Fatalf("last line %+v, want an ok result", last)
	}
	demoPID := last.PID
	rackPIDs := last.RackPIDs
	if len(rackPIDs) < 2 {
		t.Errorf("rack manager pids %v: want it restarted", rackPIDs)
	}
	var killedMonitor, killedRack bool
	for _, l := range lines {
		killedMonitor = killedMonitor || l.Action == "kill-monitor"
		killedRack = killedRack || l.Action == "kill-rack-manager"
	}
	if !killedMonitor || !killedRack {
		t.Errorf("killed a monitor %v, the rack manager %v: want both", killedMonitor, killedRack)
	}
	seen := 0
	for i := 0; i < len(lines); i++ {
		if lines[i].Type != "fault" {
			continue
		}
		seen++
		fault, failed, vms := lines[i].Fault, lines[i].Server, lines[i].VMs
		j := i + 1
		for j < len(lines) && lines[j].Type != "fault" {
			j++
		}
		var detected, fencedOrEvac, restarted bool
		started := map[string]bool{}
		for k := i + 1; k < j; k++ {
			ev, pid := evs[k], lines[k].PID
			if ev.Server != failed || lines[k].Type == "demo" {
				continue
			}
			if pid == demoPID || slices.Contains(rackPIDs, pid) {
				t.Errorf("%s: %v decided by pid %d, the demo's or the rack manager's", fault, ev, pid)
			}
			switch ev.Type {
			case failover.EventDetected:
				detected = true
			case failover.EventFenced, failover.EventEvacuated:
				fencedOrEvac = true
			case failover.EventBackupStarted:
				if ev.Peer != failed {
					started[ev.VM] = true
				}
			case failover.EventRestarted:
				restarted = true
			}
		}
		if !detected || !fencedOrEvac || !restarted {
			t.Errorf("%s on %s: detected=%v fenced-or-evacuated=%v restarted=%v", fault, failed, detected, fencedOrEvac, restarted)
		}
		for _, vm := range vms {
			if !started[vm] {
				t.Errorf("%s on %s: %s not started on its watcher", fault, failed, vm)
			}
		}
	}
	if seen != 4 {
		t.Errorf("%d faults, want 4", seen)
	}
}
