package ipmibmc_test

import (
	"testing"
	"time"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/internal/takeoverrig"
)

// TestTakeoverOnCorrectableECCBurst: correctable ECC entries added to
// blade a's SEL through ipmi_sim's console reach the engine in rack
// statuses (through this adapter and rack.Local); more than
// PredictECCLimit of them evacuate vm-a to b by prediction: checkpointed
// and resumed, blade a never fenced.
func TestTakeoverOnCorrectableECCBurst(t *testing.T) {
	a, ha := newBlade(t, "a")
	_, hb := newBlade(t, "b")
	p := failover.DefaultPolicy()
	p.RetryInterval, p.EvacuationTimeout, p.RecoveryTimeout = time.Second, 20*time.Second, 30*time.Second
	p.PredictECCLimit = 5
	r := takeoverrig.Start(t, takeoverrig.Config{Watched: ha, Watcher: hb, Policy: p})
	r.WaitPolled(2)
	for range 6 {
		// Memory (0x0c) sensor 0x40, sensor-specific, offset 0: correctable ECC.
		if err := a.sim.Console("sel_add 0x20 0x02 0 0 0 0 0x20 0x00 0x04 0x0c 0x40 0x6f 0x00 0xff 0xff"); err != nil {
			t.Fatal(err)
		}
	}
	det := r.WaitEvent(failover.EventDetected, "")
	if !det.Predicted || det.Cause != failover.CauseCorrectableECC || det.Value != 6 {
		t.Fatalf("detection %v: want a predicted correctable-ecc one counting 6", det)
	}
	r.WaitEvent(failover.EventEvacuated, "vm-a")
	if bs := r.WaitEvent(failover.EventBackupStarted, "vm-a"); !bs.Resumed {
		t.Errorf("backup not resumed from the checkpoint: %v", bs)
	}
	r.Wait("the predicted takeover's closing alert", func(e failover.Event) bool { return e.Type == failover.EventAlert && e.Predicted })
	r.RunsOnlyOn("vm-a", r.Watcher)
	for _, e := range r.Events() {
		if e.Type == failover.EventFenced || e.Type == failover.EventRestarted {
			t.Errorf("a prediction fenced or restarted blade a: %v", e)
		}
	}
	if childPower(a.sim) != bmc.PowerOn {
		t.Error("blade a was powered off")
	}
}
