package telemetry

import (
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
)

// TestEventKindRoundTrip: a correctable ECC event keeps its kind through
// a record; other events carry no kind key, and an unknown kind from a
// later format is read as none.
func TestEventKindRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	st := rack.Status{Server: "a", Time: at, Reachable: true, Health: bmc.Health{Power: bmc.PowerOn, Events: []bmc.Event{
		{Source: "DIMM A1", Message: "correctable ECC asserted", Severity: bmc.SeverityWarning, Kind: bmc.EventCorrectableECC},
		{Source: "PSU1", Message: "other"},
	}}}
	line, err := Encode(FromStatus(st))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(line), `"kind":"correctable-ecc"`) != 1 || strings.Count(string(line), `"kind"`) != 1 {
		t.Fatalf("line %s: want one kind key", line)
	}
	r, err := DecodeLine(line[:len(line)-1])
	if err != nil {
		t.Fatal(err)
	}
	back, err := r.Status()
	if err != nil {
		t.Fatal(err)
	}
	if evs := back.Health.Events; len(evs) != 2 || evs[0].Kind != bmc.EventCorrectableECC || evs[1].Kind != "" {
		t.Fatalf("events back: %+v", evs)
	}
	later := strings.Replace(string(line[:len(line)-1]), `"kind":"correctable-ecc"`, `"kind":"fan-speed-drift"`, 1)
	r, err = DecodeLine([]byte(later))
	if err != nil {
		t.Fatal(err)
	}
	if back, err = r.Status(); err != nil || back.Health.Events[0].Kind != "" {
		t.Fatalf("unknown kind: %+v %v", back.Health.Events, err)
	}
}
