package redfishbmc_test

import (
	"fmt"
	"testing"
	"time"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/internal/takeoverrig"
)

const towerSys = "437XR1238R2"

// towerHost serves one DMTF tower as a host of the rig.
func towerHost(t *testing.T, name string) (takeoverrig.Host, *redfishsim.Server) {
	t.Helper()
	sim := rigSim(t, "public-tower", redfishsim.Options{})
	return rigHost(t, sim, name, towerSys, func(c *redfishbmc.Config) { c.WatchdogLogInterval = 50 * time.Millisecond }), sim
}

// More correctable memory errors in tower a's system log than
// PredictECCLimit: b evacuates vm-a on a prediction, and never fences a.
func TestTakeoverOnCorrectableECC(t *testing.T) {
	a, simA := towerHost(t, "a")
	b, _ := towerHost(t, "b")
	p := failover.DefaultPolicy()
	p.RetryInterval, p.EvacuationTimeout, p.RecoveryTimeout = time.Second, 20*time.Second, 30*time.Second
	p.PredictECCLimit = 3
	r := takeoverrig.Start(t, takeoverrig.Config{Watched: a, Watcher: b, Policy: p})
	r.WaitPolled(2)
	log := "/redfish/v1/Systems/" + towerSys + "/LogServices/Log1/Entries"
	// The tower's log page links to itself (nextLink), so each read asks
	// twice: a third request is the second read, and the first (which
	// takes the log's entries as history) has ended.
	for simA.Count("GET", log) < 3 {
		select {
		case <-r.Context().Done():
			t.Fatal("rig stopped")
		case <-time.After(10 * time.Millisecond):
		}
	}
	for i := range p.PredictECCLimit + 1 {
		if _, err := simA.AddLogEntry(log, map[string]any{"EntryType": "Event", "Severity": "Warning",
			"MessageId": "OpenBMC.0.1.MemoryECCCorrectable", "Message": fmt.Sprintf("Memory ECC correctable error. Socket=0 Channel=A DIMM=%d Rank=0.", i)}); err != nil {
			t.Fatal(err)
		}
	}
	det := r.WaitEvent(failover.EventDetected, "")
	if !det.Predicted || det.Cause != failover.CauseCorrectableECC || det.Value != float64(p.PredictECCLimit+1) {
		t.Fatalf("detection %v: want a predicted correctable-ECC one counting %d", det, p.PredictECCLimit+1)
	}
	r.WaitEvent(failover.EventEvacuated, "vm-a")
	if bs := r.WaitEvent(failover.EventBackupStarted, "vm-a"); !bs.Resumed {
		t.Errorf("backup not resumed from the checkpoint: %v", bs)
	}
	r.RunsOnlyOn("vm-a", r.Watcher)
	if st, _ := simPower(simA, towerSys); st != bmc.PowerOn {
		t.Errorf("tower a power %v; a predicted failure is never fenced", st)
	}
	for _, e := range r.Events() {
		if e.Type == failover.EventFenced {
			t.Errorf("fenced on a prediction: %v", e)
		}
	}
}
