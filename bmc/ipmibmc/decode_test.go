package ipmibmc

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

var cmpWD = cmp.AllowUnexported(wdState{})

func TestDecodeWatchdog(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want wdState
		err  bool
	}{
		// ipmi_sim's 6-byte answer: SMS/OS, power down, 5 s, not expired.
		{"ipmi_sim short", []byte{0x04, 0x02, 0, 0, 0x32, 0}, wdState{use: 4, action: watchdog.ActionPowerDown, initial: 5 * time.Second}, false},
		{"full running", []byte{0x44, 0x03, 0, 0, 0x2c, 0x01, 0x10, 0x00}, wdState{use: 4, running: true, action: watchdog.ActionPowerCycle,
			initial: 30 * time.Second, present: 1600 * time.Millisecond, hasPresent: true}, false},
		{"expired SMS/OS", []byte{0x04, 0x02, 0, 0x10, 0x0a, 0}, wdState{use: 4, action: watchdog.ActionPowerDown, flags: 0x10, initial: time.Second}, false},
		{"trailing junk ignored", []byte{0x04, 0x01, 0, 0, 1, 0, 0, 0, 0xde, 0xad}, wdState{use: 4, action: watchdog.ActionHardReset,
			initial: 100 * time.Millisecond, hasPresent: true}, false},
		{"too short", []byte{0x04, 0x02, 0, 0, 0x32}, wdState{}, true},
		{"empty", nil, wdState{}, true},
		{"action 5 unknown", []byte{0x04, 0x05, 0, 0, 1, 0}, wdState{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeWatchdog(tc.in)
			if tc.err {
				if !errors.Is(err, bmc.ErrMalformed) {
					t.Fatalf("err = %v, want bmc.ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmpWD); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if w, _ := decodeWatchdog([]byte{0x04, 0x02, 0, 0x10, 1, 0}); !w.expired() {
		t.Error("SMS/OS flag not read as expired")
	}
	if w, _ := decodeWatchdog([]byte{0x04, 0x02, 0, 0x08, 1, 0}); w.expired() {
		t.Error("OS-load flag read as SMS/OS expiry")
	}
}

func TestEncodeSetWatchdog(t *testing.T) {
	got := encodeSetWatchdog(watchdog.ActionPowerCycle, 300, wdClearAll, true)
	want := []byte{0x04, 0x33, 0x00, 0x3e, 0x2c, 0x01}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestDecodeChassis(t *testing.T) {
	c, err := decodeChassis([]byte{0x1f, 0x00, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	want := chassis{on: true, overload: true, interlock: true, mainFault: true, controlFault: true}
	if d := cmp.Diff(want, c, cmp.AllowUnexported(chassis{})); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := decodeChassis([]byte{0x01, 0x00}); !errors.Is(err, bmc.ErrMalformed) {
		t.Errorf("2-byte chassis status: err = %v", err)
	}
}

func TestDecodeReading(t *testing.T) {
	for _, tc := range []struct {
		in    []byte
		unav  bool
		isErr bool
	}{
		{[]byte{0x60, 0xc0, 0x00}, false, false}, // events + scanning on
		{[]byte{0x60, 0x40}, false, false},       // 2 bytes are enough
		{[]byte{0x00, 0xe0}, true, false},        // reading unavailable
		{[]byte{0x60, 0x80}, true, false},        // scanning disabled
		{[]byte{0x60}, false, true},
	} {
		r, err := decodeReading(tc.in)
		if tc.isErr != (err != nil) || (err == nil && r.unavailable != tc.unav) {
			t.Errorf("decodeReading(% x) = %+v, %v", tc.in, r, err)
		}
	}
}

func TestDecodeThresholds(t *testing.T) {
	mask, raw, err := decodeThresholds([]byte{0x38, 0, 0, 0, 0x70, 0x90})
	if err != nil {
		t.Fatal(err)
	}
	// UNR (bit 5) declared readable but missing from the short answer.
	if mask != 0x18 || raw != [6]uint8{0, 0, 0, 0x70, 0x90, 0} {
		t.Errorf("mask %#x raw % x", mask, raw)
	}
	if _, _, err := decodeThresholds(nil); !errors.Is(err, bmc.ErrMalformed) {
		t.Errorf("empty: %v", err)
	}
}

// TestParseSDRRoundTrip decodes the records the simulator harness encodes.
func TestParseSDRRoundTrip(t *testing.T) {
	for i, sn := range ipmisim.DefaultSensors() {
		s, ok, err := parseSDR(sn.SDR(uint16(i + 1)))
		if err != nil || !ok {
			t.Fatalf("%s: ok=%v err=%v", sn.Name, ok, err)
		}
		if s.name != sn.Name || s.number != sn.Number || s.recordID != uint16(i+1) {
			t.Errorf("%s: got name %q number %d record %d", sn.Name, s.name, s.number, s.recordID)
		}
		for _, raw := range []uint8{0, 1, 100, 255} {
			v, err := s.value(raw)
			if err != nil || math.Abs(v-sn.Value(raw)) > 1e-9 {
				t.Errorf("%s raw %d: %v, %v; want %v", sn.Name, raw, v, err, sn.Value(raw))
			}
		}
	}
}

// TestParseSDRKnown decodes the full record from OpenIPMI's example
// (M=1, degrees C, upper thresholds 0x70/0x90/0xa0, name "DJtemp").
func TestParseSDRKnown(t *testing.T) {
	rec := []byte{0x00, 0x00, 0x51, 0x01, 0x31, 0x20, 0x00, 0x01, 0x03, 0x01, 0x67, 0x88, 0x01, 0x01, 0xc0, 0x0f,
		0xc0, 0x7f, 0x38, 0x38, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x60, 0xb0, 0x00,
		0xb0, 0x00, 0xa0, 0x90, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 'D', 'J', 't', 'e', 'm', 'p'}
	s, ok, err := parseSDR(rec)
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	th := s.thresholds(s.readable, s.sdrTh)
	want := sensor.Thresholds{UpperCaution: sensor.At(112), UpperCritical: sensor.At(144), UpperFatal: sensor.At(160)}
	if s.name != "DJtemp" || s.kind != sensor.KindTemperature || s.unit != "C" || s.access != 2 {
		t.Errorf("got %q %v %q access %d", s.name, s.kind, s.unit, s.access)
	}
	if d := cmp.Diff(want, th); d != "" {
		t.Errorf("thresholds (-want +got):\n%s", d)
	}
}

func TestParseSDRRejects(t *testing.T) {
	full := ipmisim.DefaultSensors()[0].SDR(1)
	for name, rec := range map[string][]byte{
		"short header":   {0, 0, 0x51},
		"length too big": append(append([]byte{}, full[:5]...), full[5:20]...),
		"full too short": {0, 0, 0x51, 0x01, 3, 0x20, 0, 1},
		"name too long":  append(append([]byte{}, full[:47]...), 0xcf, 'a'),
	} {
		if name == "name too long" {
			rec[4] = byte(len(rec) - 5)
		}
		if _, _, err := parseSDR(rec); !errors.Is(err, bmc.ErrMalformed) {
			t.Errorf("%s: err = %v, want bmc.ErrMalformed", name, err)
		}
	}
	// Other record types are skipped without error.
	if _, ok, err := parseSDR([]byte{1, 0, 0x51, 0x12, 0}); ok || err != nil {
		t.Errorf("MC locator record: ok=%v err=%v", ok, err)
	}
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		f    factors
		raw  uint8
		want float64
		err  bool
	}{
		{"unsigned M=2 B=10", factors{m: 2, b: 10}, 50, 110, false},
		{"two's complement", factors{format: 2, m: 1}, 0xf6, -10, false},
		{"one's complement", factors{format: 1, m: 1}, 0xf5, -10, false},
		{"negative M, exps", factors{m: -3, b: 5, bExp: 2, rExp: -2}, 100, 2, false}, // (-300 + 500) / 100
		{"sqrt", factors{m: 1, linear: 10}, 16, 4, false},
		{"1/x of 0", factors{m: 1, linear: 7}, 0, 0, true},
		{"ln of 0", factors{m: 1, linear: 1}, 0, 0, true},
		{"OEM non-linear", factors{m: 1, linear: 0x71}, 3, 0, true},
		{"no analog", factors{format: 3, m: 1}, 3, 0, true},
	}
	for _, tc := range tests {
		got, err := tc.f.convert(tc.raw)
		if tc.err {
			if !errors.Is(err, bmc.ErrMalformed) {
				t.Errorf("%s: %v, %v; want bmc.ErrMalformed", tc.name, got, err)
			}
			continue
		}
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if signed10(0xff, 0xc0) != -1 || signed10(0xff, 0x40) != 511 || signed4(0x0f) != -1 || signed4(0x07) != 7 {
		t.Error("sign extension")
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		typ, u1, base, mod uint8
		kind               sensor.Kind
		unit               string
	}{
		{0x01, 0, 1, 0, sensor.KindTemperature, "C"},
		{0x01, 0, 2, 0, sensor.KindTemperature, "C"}, // F converted
		{0x02, 0, 4, 0, sensor.KindVoltage, "V"},
		{0x04, 0, 18, 0, sensor.KindFan, "RPM"},
		{0x04, 1, 0, 0, sensor.KindFan, "%"},
		{0x08, 0, 6, 0, sensor.KindPower, "W"},
		{0x03, 0, 5, 0, sensor.KindCurrent, "A"},
		{0x02, 0x03 << 3, 4, 0, sensor.KindOther, "V/s"}, // rate: not a plain voltage
		{0x0b, 0, 200, 0, sensor.KindOther, "unit(200)"},
	} {
		k, u, _ := unitOf(tc.typ, tc.u1, tc.base, tc.mod)
		if k != tc.kind || u != tc.unit {
			t.Errorf("unitOf(%#x, %#x, %d) = %v %q, want %v %q", tc.typ, tc.u1, tc.base, k, u, tc.kind, tc.unit)
		}
	}
	_, _, toC := unitOf(1, 0, 2, 0)
	if toC(212) != 100 {
		t.Errorf("212 F = %v C", toC(212))
	}
}

func TestIDString6Bit(t *testing.T) {
	// "ABCD" packed: 'A'-0x20=0x21, 'B'=0x22, 'C'=0x23, 'D'=0x24.
	v := uint32(0x21) | 0x22<<6 | 0x23<<12 | 0x24<<18
	got, err := decodeIDString(0x83, []byte{byte(v), byte(v >> 8), byte(v >> 16)})
	if err != nil || got != "ABCD" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestDecodeSELAndEvents(t *testing.T) {
	name := func(n uint8) string { return map[uint8]string{1: "P12V"}[n] }
	// Threshold: P12V upper critical going high, asserted, at 2026-01-01.
	ts := uint32(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	rec := []byte{0x05, 0x00, 0x02, byte(ts), byte(ts >> 8), byte(ts >> 16), byte(ts >> 24), 0x20, 0x00, 0x04, 0x02, 0x01, 0x01, 0x59, 0x96, 0x89}
	r, err := decodeSEL(rec)
	if err != nil {
		t.Fatal(err)
	}
	e, fault := toEvent(r, name)
	want := bmc.Event{Time: time.Unix(int64(ts), 0).UTC(), Source: "P12V", Message: "upper critical going high asserted", Severity: bmc.SeverityCritical}
	if d := cmp.Diff(want, e); d != "" || fault != "" {
		t.Errorf("threshold event (-want +got):\n%s fault %q", d, fault)
	}
	// Power supply failure, pre-init timestamp: a blade fault, no time.
	rec = []byte{0x06, 0x00, 0x02, 0x10, 0, 0, 0, 0x20, 0x00, 0x04, 0x08, 0x05, 0x6f, 0x01, 0xff, 0xff}
	r, _ = decodeSEL(rec)
	e, fault = toEvent(r, name)
	if fault != "power supply failure" || e.Severity != bmc.SeverityCritical || !e.Time.IsZero() {
		t.Errorf("PSU failure: %+v fault %q", e, fault)
	}
	// Deasserted: informational, no fault.
	rec[12] = 0xef
	r, _ = decodeSEL(rec)
	if e, fault = toEvent(r, name); fault != "" || e.Severity != bmc.SeverityInfo {
		t.Errorf("deasserted PSU failure: %+v fault %q", e, fault)
	}
	if _, err := decodeSEL(rec[:15]); !errors.Is(err, bmc.ErrMalformed) {
		t.Errorf("15-byte SEL record: %v", err)
	}
}
