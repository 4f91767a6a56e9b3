package ipmibmc

import (
	"fmt"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// TestSimCorrectableECC: correctable ECC entries added to ipmi_sim's SEL
// through its console come out of Health as bmc.EventCorrectableECC
// events (a warning, not a fault), and an uncorrectable one as a fault.
func TestSimCorrectableECC(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	b := open(t, s)
	if _, err := b.Health(ctxT(t, 5*time.Second)); err != nil { // baseline: older entries are history
		t.Fatal(err)
	}
	// SEL record type 0x02: timestamp, generator 0x0020, EvM rev 4,
	// sensor type 0x0c (Memory), sensor 0x40, sensor-specific (0x6f),
	// offset in event data 1.
	add := func(offset uint8) {
		t.Helper()
		cmd := fmt.Sprintf("sel_add 0x20 0x02 0 0 0 0 0x20 0x00 0x04 0x0c 0x40 0x6f %#02x 0xff 0xff", offset)
		if err := s.Console(cmd); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		add(0x00) // correctable ECC
	}
	h, err := b.Health(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range h.Events {
		if e.Kind == bmc.EventCorrectableECC {
			n++
			if e.Severity != bmc.SeverityWarning || e.Message != "correctable ECC asserted" {
				t.Errorf("event %+v: want a warning \"correctable ECC asserted\"", e)
			}
		}
	}
	if n != 3 || h.Fault {
		t.Fatalf("health %+v: want 3 correctable ECC events and no fault", h)
	}
	add(0x01) // uncorrectable ECC
	h, err = b.Health(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != 1 || h.Events[0].Kind != "" || !h.Fault {
		t.Fatalf("health %+v: want one uncorrectable event, a fault, no correctable kind", h)
	}
}
