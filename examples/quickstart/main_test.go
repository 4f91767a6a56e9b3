package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/failovertest"
)

// The acceptance: for each detection mode, -json holds a
// detection, a fence or evacuation, a backup-started on the peer for every
// protected VM of the failed server, and a restart.
func TestQuickstartJSONShowsFourTakeovers(t *testing.T) {
	for _, servers := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("servers=%d", servers), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), &out, servers, 3, true); err != nil {
				t.Fatal(err)
			}
			var lines []map[string]any
			var evs []failover.Event
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("not JSON: %q: %v", sc.Text(), err)
				}
				for _, k := range []string{"time", "type"} {
					if _, ok := m[k]; !ok {
						t.Fatalf("line %q lacks %q", sc.Text(), k)
					}
				}
				lines = append(lines, m)
				var ev failover.Event
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatal(err)
				}
				evs = append(evs, ev)
			}
			// Split the events by fault and check each takeover.
			want := map[string]failover.Cause{"power-loss": failover.CauseNoPower, "hang-os": failover.CauseWatchdog,
				"voltage-sag": failover.CauseVoltage, "overheat": failover.CauseTemperature}
			seen := 0
			for i := 0; i < len(lines); i++ {
				if lines[i]["type"] != "fault" {
					continue
				}
				seen++
				fault, failed := lines[i]["fault"].(string), lines[i]["server"].(string)
				var vms []string
				for _, v := range lines[i]["vms"].([]any) {
					vms = append(vms, v.(string))
				}
				j := i + 1
				for j < len(lines) && lines[j]["type"] != "fault" {
					j++
				}
				at, err := time.Parse(time.RFC3339Nano, lines[i]["time"].(string))
				if err != nil {
					t.Fatal(err)
				}
				checkTakeover(t, fault, failed, want[fault], vms, at, evs[i+1:j])
			}
			if seen != 4 {
				t.Errorf("%d faults in the output, want 4", seen)
			}
		})
	}
}

func checkTakeover(t *testing.T, fault, failed string, cause failover.Cause, vms []string, at time.Time, evs []failover.Event) {
	t.Helper()
	var detected, fencedOrEvac, restarted bool
	var detectedAt, firstStart, lastStart time.Time
	latency := failovertest.DefaultConfig().Latency
	started := map[string]bool{}
	evacuated := map[string]bool{}
	peer := ""
	for _, ev := range evs {
		if ev.Server != failed {
			continue
		}
		switch ev.Type {
		case failover.EventDetected:
			// A fast poll sees a hung server's watchdog power it down
			// before a full poll shows why; later events name the watchdog.
			detected = ev.Cause == cause || (cause == failover.CauseWatchdog && ev.Cause == failover.CauseNoPower)
			peer, detectedAt = ev.Peer, ev.Time
		case failover.EventFenced:
			fencedOrEvac = true
		case failover.EventEvacuated:
			fencedOrEvac = true
			evacuated[ev.VM] = true
		case failover.EventBackupStarted:
			if ev.Peer == peer && ev.Peer != failed {
				started[ev.VM] = true
				if firstStart.IsZero() {
					firstStart = ev.Time
				}
				lastStart = ev.Time
				if ev.Cause != cause {
					t.Errorf("%s on %s: %s started with cause %s, want %s", fault, failed, ev.VM, ev.Cause, cause)
				}
			}
		case failover.EventRestarted:
			restarted = true
		case failover.EventAlert:
			t.Errorf("%s on %s: alert: %v", fault, failed, ev)
		}
	}
	if !detected || !fencedOrEvac || !restarted {
		t.Errorf("%s on %s: detected(%s)=%v fenced-or-evacuated=%v restarted=%v", fault, failed, cause, detected, fencedOrEvac, restarted)
	}
	if len(vms) == 0 {
		t.Errorf("%s on %s: the server ran no VMs", fault, failed)
	}
	// The acceptance: backups start together, not one after
	// another, and a power loss is seen within a second.
	if spread := lastStart.Sub(firstStart); spread > latency.Start {
		t.Errorf("%s on %s: backups started over %v, want within one start (%v)", fault, failed, spread, latency.Start)
	}
	if d := detectedAt.Sub(at); fault == "power-loss" && d > time.Second {
		t.Errorf("power loss on %s detected %v after the fault, want within 1s", failed, d)
	}
	for _, vm := range vms {
		if !started[vm] {
			t.Errorf("%s on %s: no backup-started for %s on the peer %s", fault, failed, vm, peer)
		}
	}
	for vm := range evacuated {
		if !started[vm] {
			t.Errorf("%s on %s: %s evacuated but not started on %s", fault, failed, vm, peer)
		}
	}
}
