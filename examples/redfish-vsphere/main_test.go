package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

func mockupDirOrErr() (string, error) { return redfishsim.MockupDir("public-bladed") }

func mockupOrSkip(t *testing.T) string {
	t.Helper()
	dir, err := mockupDirOrErr()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
	return dir
}

// The acceptance on the Redfish test server and govmomi's vCenter
// simulator: an overheated blade is evacuated (each VM suspended on it and
// resumed on the peer) and restarted; a blade that reports itself failed is
// fenced, every VM it ran (its own and those evacuated to it) is started on
// the peer, and it is powered back on. run itself checks that each VM then
// runs on exactly one blade.
func TestTwoFaultsJSON(t *testing.T) {
	dir := mockupOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, dir, 2, true); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	if strings.Contains(out.String(), rfPass) || strings.Contains(out.String(), vcPass) {
		t.Error("a password appears in the output")
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

	check := func(fault, failed, peer string, cause failover.Cause, vms []string, evacuated bool) {
		t.Helper()
		var types []failover.EventType
		var started []string
		for _, ev := range byFault[fault] {
			if ev.Server != failed {
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
				if ev.Resumed != evacuated {
					t.Errorf("%s: %s resumed=%v, want %v", fault, ev.VM, ev.Resumed, evacuated)
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
	check("overheat", "a", "b", failover.CauseTemperature, []string{"a-vm1", "a-vm2"}, true)
	check("blade-fault", "b", "a", failover.CauseBladeFault, []string{"a-vm1", "a-vm2", "b-vm1", "b-vm2"}, false)
}

// The readable timeline names both faults and ends with the placement.
func TestTimeline(t *testing.T) {
	dir := mockupOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, dir, 1, false); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{"FAULT overheat on a", "FAULT blade-fault on b", "backup-started", "every VM runs on exactly one blade: a-vm1@a b-vm1@a"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("timeline lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBadVMCount(t *testing.T) {
	if err := run(context.Background(), &bytes.Buffer{}, "", 0, false); err == nil || !strings.Contains(err.Error(), "-vms 0") {
		t.Errorf("run with -vms 0 = %v; want an error naming -vms 0", err)
	}
}
