package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// The acceptance, on real ipmi_sim BMCs and libvirt test-driver
// hosts: an overheated blade is evacuated (every VM resumed from its
// checkpoint on the peer) and restarted; a blade whose watchdog expires is
// fenced, every VM it ran is cold-started on the peer, and it is powered
// back on; each VM then runs on exactly one blade (run checks that).
func TestTwoFaultsJSON(t *testing.T) {
	if err := ipmisim.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v", err)
		}
		t.Skipf("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, 2, true); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}

	var faults []failover.FaultMark
	byFault := map[string][]failover.Event{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		if raw["type"] == "fault" {
			var f failover.FaultMark
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil || f.Fault == "" || f.Server == "" {
				t.Fatalf("fault line %q: %+v, %v", sc.Text(), f, err)
			}
			faults = append(faults, f)
			continue
		}
		var ev failover.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		if len(faults) > 0 {
			k := faults[len(faults)-1].Fault
			byFault[k] = append(byFault[k], ev)
		}
	}
	if got := len(faults); got != 2 {
		t.Fatalf("%d faults in the output, want 2:\n%s", got, out.String())
	}

	check := func(fault, failed, peer string, cause failover.Cause, vms []string, resumed bool, evacuated bool) {
		t.Helper()
		var types []failover.EventType
		var started []string
		for _, ev := range byFault[fault] {
			if ev.Server != failed || ev.Type == failover.EventWatchdogSeen { // journaled, not a step of the takeover
				continue
			}
			if ev.Peer != peer {
				t.Errorf("%s: event %v acted by %q, want %q", fault, ev, ev.Peer, peer)
			}
			if ev.Cause != cause {
				t.Errorf("%s: event %v has cause %q, want %q", fault, ev, ev.Cause, cause)
			}
			types = append(types, ev.Type)
			if ev.Type == failover.EventBackupStarted {
				started = append(started, ev.VM)
				if ev.Resumed != resumed {
					t.Errorf("%s: %s resumed=%v, want %v", fault, ev.VM, ev.Resumed, resumed)
				}
			}
		}
		want := []failover.EventType{failover.EventDetected, failover.EventFenced}
		if evacuated {
			want = []failover.EventType{failover.EventDetected, failover.EventEvacuating, failover.EventEvacuated}
		}
		want = append(want, failover.EventBackupStarted, failover.EventRestarted, failover.EventRecovered)
		for _, w := range want {
			if !slices.Contains(types, w) {
				t.Errorf("%s on %s: no %s event; got %v", fault, failed, w, types)
			}
		}
		slices.Sort(started)
		if !slices.Equal(started, vms) {
			t.Errorf("%s on %s: backups started %v, want %v", fault, failed, started, vms)
		}
	}
	check("overheat", "a", "b", failover.CauseTemperature, []string{"a-vm1", "a-vm2"}, true, true)
	check("hang-os", "b", "a", failover.CauseWatchdog, []string{"a-vm1", "a-vm2", "b-vm1", "b-vm2"}, false, false)
}
