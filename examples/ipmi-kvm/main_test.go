package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/internal/qemurig"
)

// The example, on real components: ipmi_sim BMCs in front of two
// libvirt QEMU hosts. Blade a overheats (set through ipmi_sim's console);
// b evacuates a's guest with its memory, restarts a, and a recovers; run
// checks that the guest then runs on b only and that its counter went on
// without a reboot.
func TestQEMUOverheatEvacuatesRealGuest(t *testing.T) {
	if err := errors.Join(ipmisim.Available(), qemurig.Tools()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, true); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	var seen []failover.EventType
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var ev failover.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		if ev.Server == "a" && ev.Type != "" {
			seen = append(seen, ev.Type)
		}
	}
	want := []failover.EventType{failover.EventDetected, failover.EventEvacuating, failover.EventEvacuated,
		failover.EventBackupStarted, failover.EventRestarted, failover.EventRecovered}
	i := 0
	for _, typ := range seen {
		if i < len(want) && typ == want[i] {
			i++
		}
		if typ == failover.EventFenced {
			t.Errorf("a was fenced: the evacuation did not finish in time (events %v)", seen)
		}
	}
	if i != len(want) {
		t.Errorf("events about a %v, want %v in that order", seen, want)
	}
}
