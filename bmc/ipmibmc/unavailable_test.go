package ipmibmc

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/sensor"
)

// TestUnavailableNotZero: a sensor whose scanning is off reads as
// unavailable, and one whose reading converts to something no voltage can
// be (120 kV) is reported unavailable with a warning, never as a value.
func TestUnavailableNotZero(t *testing.T) {
	absurd := ipmisim.Sensor{Number: 30, Name: "P12V_BROKEN", Type: ipmisim.TypeVoltage, Unit: ipmisim.UnitVolts,
		M: 500, RExp: 0, Raw: 240, Thresholds: [6]uint8{0, 0, 0, 250, 252, 254}, Mask: 0x38}
	s := startSim(t, ipmisim.Config{Sensors: append(ipmisim.DefaultSensors(), absurd)})
	var logs bytes.Buffer
	cfg := simConfig(s)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := s.Console("sensor_set_event_support 0x20 0 2 enable no-scanning per-state 000111111111111 000111111111111 000111111111111 000111111111111"); err != nil {
		t.Fatal(err)
	}
	rs, err := b.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"P5V", "P12V_BROKEN"} {
		r, ok := find(rs, name)
		if !ok || r.Status != sensor.StatusUnavailable || r.Value != 0 {
			t.Errorf("%s: %+v, want unavailable with value 0", name, r)
		}
	}
	if r, _ := find(rs, "P12V"); r.Status != sensor.StatusOK {
		t.Errorf("P12V: %+v", r)
	}
	if !strings.Contains(logs.String(), "P12V_BROKEN") || !strings.Contains(logs.String(), "not a measurement") {
		t.Errorf("no warning naming the broken sensor: %s", logs.String())
	}
}
