package ipmibmc

import (
	"errors"
	"math"
	"testing"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/sensor"
)

// The fuzz targets check that decoders never panic, that every failure
// wraps bmc.ErrMalformed, and that what they accept is sane. Inputs that
// found bugs are kept in testdata/fuzz/<FuzzName>/.

func FuzzParseSDR(f *testing.F) {
	for i, sn := range ipmisim.DefaultSensors() {
		f.Add(sn.SDR(uint16(i)))
	}
	f.Add([]byte{0, 0, 0x51, 0x02, 0})
	f.Fuzz(func(t *testing.T, rec []byte) {
		s, ok, err := parseSDR(rec)
		if err != nil {
			if !errors.Is(err, bmc.ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		if !ok {
			return
		}
		if s.name == "" {
			t.Fatal("accepted record with no name")
		}
		for _, raw := range []uint8{0, 1, 127, 128, 255} {
			if v, err := s.value(raw); err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				t.Fatalf("raw %d converts to %v without error", raw, v)
			}
		}
		th := s.thresholds(s.readable, s.sdrTh)
		for _, l := range []sensor.Limit{th.LowerFatal, th.LowerCritical, th.LowerCaution, th.UpperCaution, th.UpperCritical, th.UpperFatal} {
			if l.Set && (math.IsNaN(l.Value) || math.IsInf(l.Value, 0)) {
				t.Fatalf("threshold %v set", l.Value)
			}
		}
	})
}

func FuzzConvert(f *testing.F) {
	f.Add(uint8(0), uint8(0), int16(93), int16(0), int8(-3), int8(0), uint8(128))
	f.Add(uint8(2), uint8(7), int16(1), int16(0), int8(0), int8(0), uint8(0))
	f.Add(uint8(1), uint8(1), int16(-511), int16(-512), int8(7), int8(-8), uint8(255))
	f.Fuzz(func(t *testing.T, format, linear uint8, m, b int16, rExp, bExp int8, raw uint8) {
		fs := factors{format: format & 3, linear: linear & 0x7f, m: signed10(uint8(m), uint8(m>>2)),
			b: signed10(uint8(b), uint8(b>>2)), rExp: signed4(uint8(rExp)), bExp: signed4(uint8(bExp))}
		v, err := fs.convert(raw)
		if err != nil {
			if !errors.Is(err, bmc.ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%+v raw %d = %v without error", fs, raw, v)
		}
	})
}

func FuzzDecodeWatchdog(f *testing.F) {
	f.Add([]byte{0x04, 0x02, 0x00, 0x00, 0x32, 0x00})             // ipmi_sim, 6 bytes
	f.Add([]byte{0x44, 0x03, 0x00, 0x10, 0x2c, 0x01, 0x10, 0x00}) // full answer
	f.Fuzz(func(t *testing.T, d []byte) {
		w, err := decodeWatchdog(d)
		if err != nil {
			if !errors.Is(err, bmc.ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		if len(d) < 6 || w.initial < 0 || w.present < 0 || (w.hasPresent != (len(d) >= 8)) {
			t.Fatalf("accepted % x as %+v", d, w)
		}
	})
}

func FuzzDecodeChassis(f *testing.F) {
	f.Add([]byte{0x01, 0x00, 0x00})
	f.Add([]byte{0x1f, 0x10, 0x40, 0x00})
	f.Fuzz(func(t *testing.T, d []byte) {
		c, err := decodeChassis(d)
		if err != nil {
			if !errors.Is(err, bmc.ErrMalformed) || len(d) >= 3 {
				t.Fatalf("% x: %v", d, err)
			}
			return
		}
		if c.on != (d[0]&1 == 1) {
			t.Fatalf("power bit of % x read as %v", d, c.on)
		}
	})
}

func FuzzDecodeSEL(f *testing.F) {
	f.Add([]byte{0x05, 0x00, 0x02, 0x00, 0x00, 0x00, 0x6a, 0x20, 0x00, 0x04, 0x02, 0x01, 0x01, 0x59, 0x96, 0x89})
	f.Add([]byte{0x06, 0x00, 0x02, 0x10, 0, 0, 0, 0x20, 0x00, 0x04, 0x23, 0x00, 0x6f, 0x02, 0xff, 0xff})
	f.Add([]byte{0x07, 0x00, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Fuzz(func(t *testing.T, d []byte) {
		r, err := decodeSEL(d)
		if err != nil {
			if !errors.Is(err, bmc.ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		e, fault := toEvent(r, func(uint8) string { return "s" })
		if e.Message == "" || e.Source == "" {
			t.Fatalf("event without source or message: %+v", e)
		}
		if fault != "" && e.Severity != bmc.SeverityCritical {
			t.Fatalf("fault %q with severity %v", fault, e.Severity)
		}
	})
}

func FuzzDecodeSmall(f *testing.F) {
	f.Add([]byte{0x60, 0xc0, 0x00})
	f.Add([]byte{0x38, 0, 0, 0, 0x70, 0x90, 0xa0})
	f.Add([]byte{0x51, 0x01, 0x00, 0xfe, 0xff, 0x09, 0x02, 0, 0, 0, 0, 0, 0, 0x02})
	f.Fuzz(func(t *testing.T, d []byte) {
		for _, err := range []error{
			func() error { _, err := decodeReading(d); return err }(),
			func() error { _, _, err := decodeThresholds(d); return err }(),
			func() error { _, err := decodeRepoInfo("x", d); return err }(),
			func() error { _, _, err := decodeNextAndRecord("x", d); return err }(),
		} {
			if err != nil && !errors.Is(err, bmc.ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
		}
	})
}
