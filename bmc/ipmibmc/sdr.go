package ipmibmc

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
)

// SDR record types this package reads.
const (
	sdrTypeFull    = 0x01
	sdrTypeCompact = 0x02
)

// factors are the conversion factors of a full sensor record
// (IPMI 2.0 section 36.3): y = L[(M*x + B*10^Bexp) * 10^Rexp].
type factors struct {
	format uint8 // analog data format: 0 unsigned, 1 one's complement, 2 two's complement, 3 none
	linear uint8 // linearization enum L
	m, b   int16 // 10-bit signed
	rExp   int8  // 4-bit signed
	bExp   int8  // 4-bit signed
}

// sdrSensor is what the adapter keeps of one full sensor record.
type sdrSensor struct {
	recordID uint16
	owner    uint8 // sensor owner ID (slave address)
	lun      uint8
	number   uint8
	typ      uint8 // sensor type (0x01 temperature, 0x02 voltage, ...)
	readType uint8 // event/reading type code (0x01 threshold)
	name     string
	kind     sensor.Kind
	unit     string
	toC      func(float64) float64 // converts a temperature unit to C; nil otherwise
	f        factors
	access   uint8    // threshold access: 0 none, 1 readable, 2 readable+settable, 3 fixed
	readable uint8    // readable-threshold mask: bit0 LNC .. bit5 UNR
	sdrTh    [6]uint8 // thresholds in the SDR: LNC, LCR, LNR, UNC, UCR, UNR (raw)
	th       sensor.Thresholds
	thMask   uint8    // the mask and raw values th was converted from
	thRaw    [6]uint8 // (Get Sensor Thresholds', or the SDR's own)
	rec      []byte   // the record itself, for the disk cache
}

// parseSDR decodes one SDR record (header included). It returns ok=false,
// with no error, for records this adapter does not poll (other types,
// sensors without an analog reading). Short or inconsistent records give
// an error wrapping bmc.ErrMalformed.
func parseSDR(rec []byte) (s sdrSensor, ok bool, err error) {
	if len(rec) < 5 {
		return s, false, fmt.Errorf("%w: SDR record of %d bytes, header needs 5", bmc.ErrMalformed, len(rec))
	}
	if int(rec[4])+5 > len(rec) {
		return s, false, fmt.Errorf("%w: SDR record %#04x declares %d body bytes, has %d", bmc.ErrMalformed, le16(rec), rec[4], len(rec)-5)
	}
	rec = rec[:5+int(rec[4])] // trailing bytes beyond the declared length are not the record's
	if rec[3] != sdrTypeFull {
		return s, false, nil
	}
	if len(rec) < 48 {
		return s, false, fmt.Errorf("%w: full SDR record %#04x of %d bytes, needs at least 48", bmc.ErrMalformed, le16(rec), len(rec))
	}
	s = sdrSensor{
		recordID: le16(rec),
		owner:    rec[5],
		lun:      rec[6] & 0x03,
		number:   rec[7],
		typ:      rec[12],
		readType: rec[13],
		access:   (rec[11] >> 2) & 0x03,
		readable: rec[18] & 0x3f,
	}
	s.f = factors{
		format: rec[20] >> 6,
		linear: rec[23] & 0x7f,
		m:      signed10(rec[24], rec[25]),
		b:      signed10(rec[26], rec[27]),
		rExp:   signed4(rec[29] >> 4),
		bExp:   signed4(rec[29] & 0x0f),
	}
	if s.f.format == 3 {
		return s, false, nil // no analog reading
	}
	// SDR order UNR, UCR, UNC, LNR, LCR, LNC at 36..41; kept as LNC..UNR.
	s.sdrTh = [6]uint8{rec[41], rec[40], rec[39], rec[38], rec[37], rec[36]}
	name, err := decodeIDString(rec[47], rec[48:])
	if err != nil {
		return s, false, fmt.Errorf("SDR record %#04x: %w", s.recordID, err)
	}
	if name == "" {
		name = fmt.Sprintf("sensor %#02x", s.number)
	}
	s.name = name
	s.kind, s.unit, s.toC = unitOf(s.typ, rec[20], rec[21], rec[22])
	s.rec = slices.Clone(rec)
	return s, true, nil
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }

func signed10(ls, ms uint8) int16 {
	v := int16(ls) | int16(ms&0xc0)<<2
	if v&0x200 != 0 {
		v -= 0x400
	}
	return v
}

func signed4(v uint8) int8 {
	v &= 0x0f
	if v&0x08 != 0 {
		return int8(v) - 16
	}
	return int8(v)
}

// decodeIDString decodes an SDR ID string of type/length code tl.
func decodeIDString(tl uint8, body []byte) (string, error) {
	n := int(tl & 0x1f)
	if n == 0 {
		return "", nil
	}
	if n > len(body) {
		return "", fmt.Errorf("%w: ID string declares %d bytes, record has %d", bmc.ErrMalformed, n, len(body))
	}
	b := body[:n]
	var s string
	switch tl >> 6 {
	case 3: // 8-bit ASCII + Latin-1
		s = string(b)
	case 2: // 6-bit packed ASCII, four characters in three bytes
		var sb strings.Builder
		var acc uint32
		bits := 0
		for _, c := range b {
			acc |= uint32(c) << bits
			bits += 8
			for bits >= 6 {
				sb.WriteByte(byte(acc&0x3f) + 0x20)
				acc >>= 6
				bits -= 6
			}
		}
		s = sb.String()
	default: // Unicode or BCD plus: rare, shown as hex
		s = fmt.Sprintf("%x", b)
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s), nil
}

// unitOf maps sensor type and units bytes to a kind and unit. Rate or
// modifier units make the reading KindOther with a compound unit, since
// they are not the plain quantities the engine judges.
func unitOf(typ, units1, base, mod uint8) (sensor.Kind, string, func(float64) float64) {
	name := baseUnitName(base)
	if units1&0x01 != 0 { // percentage
		if typ == 0x04 {
			return sensor.KindFan, "%", nil
		}
		return sensor.KindOther, "%", nil
	}
	rate := (units1 >> 3) & 0x07
	modUse := (units1 >> 1) & 0x03
	if rate != 0 || modUse == 1 || modUse == 2 {
		u := name
		switch modUse {
		case 1:
			u += "/" + baseUnitName(mod)
		case 2:
			u += "*" + baseUnitName(mod)
		}
		if rate != 0 {
			u += "/" + rateNames[rate]
		}
		return sensor.KindOther, u, nil
	}
	switch base {
	case 1:
		return sensor.KindTemperature, "C", nil
	case 2:
		return sensor.KindTemperature, "C", func(f float64) float64 { return (f - 32) * 5 / 9 }
	case 3:
		return sensor.KindTemperature, "C", func(k float64) float64 { return k - 273.15 }
	case 4:
		return sensor.KindVoltage, "V", nil
	case 5:
		return sensor.KindCurrent, "A", nil
	case 6:
		return sensor.KindPower, "W", nil
	case 18:
		return sensor.KindFan, "RPM", nil
	}
	return sensor.KindOther, name, nil
}

var rateNames = [8]string{"", "us", "ms", "s", "min", "h", "d", "?"}

var baseUnits = map[uint8]string{
	0: "unspecified", 1: "C", 2: "F", 3: "K", 4: "V", 5: "A", 6: "W", 7: "J", 8: "Coulomb", 9: "VA",
	10: "nit", 11: "lumen", 12: "lux", 13: "candela", 14: "kPa", 15: "psi", 16: "N", 17: "CFM", 18: "RPM",
	19: "Hz", 20: "us", 21: "ms", 22: "s", 23: "min", 24: "h", 25: "d", 26: "week", 27: "mil", 28: "in",
	29: "ft", 30: "cu in", 31: "cu ft", 32: "mm", 33: "cm", 34: "m", 35: "cu cm", 36: "cu m", 37: "l",
	38: "fl oz", 39: "rad", 40: "sr", 41: "rev", 42: "cycle", 43: "g", 44: "oz", 45: "lb", 46: "ft-lb",
	47: "oz-in", 48: "gauss", 49: "gilbert", 50: "henry", 51: "mH", 52: "farad", 53: "uF", 54: "ohm",
	55: "siemens", 56: "mole", 57: "becquerel", 58: "PPM", 60: "dB", 61: "dBA", 62: "dBC", 63: "Gy",
	64: "Sv", 65: "color temp K", 66: "bit", 67: "kbit", 68: "Mbit", 69: "Gbit", 70: "byte", 71: "kB",
	72: "MB", 73: "GB", 74: "word", 75: "dword", 76: "qword", 77: "line", 78: "hit", 79: "miss",
	80: "retry", 81: "reset", 82: "overrun", 83: "underrun", 84: "collision", 85: "packet",
	86: "message", 87: "character", 88: "error", 89: "correctable error", 90: "uncorrectable error",
	91: "fatal error", 92: "gram",
}

func baseUnitName(code uint8) string {
	if n, ok := baseUnits[code]; ok {
		return n
	}
	return fmt.Sprintf("unit(%d)", code)
}

// convert turns a raw 8-bit reading into the sensor's unit. Results that
// are not finite (log of a negative, 1/0) and non-linear (OEM) formulas
// give an error wrapping bmc.ErrMalformed.
func (f factors) convert(raw uint8) (float64, error) {
	var x float64
	switch f.format {
	case 0:
		x = float64(raw)
	case 1:
		if raw&0x80 != 0 {
			x = -float64(^raw & 0x7f)
		} else {
			x = float64(raw)
		}
	case 2:
		x = float64(int8(raw))
	default:
		return 0, fmt.Errorf("%w: sensor has no analog reading (format %d)", bmc.ErrMalformed, f.format)
	}
	y := scale(float64(f.m)*x+scale(float64(f.b), f.bExp), f.rExp)
	switch f.linear {
	case 0:
	case 1:
		y = math.Log(y)
	case 2:
		y = math.Log10(y)
	case 3:
		y = math.Log2(y)
	case 4:
		y = math.Exp(y)
	case 5:
		y = math.Pow(10, y)
	case 6:
		y = math.Exp2(y)
	case 7:
		y = 1 / y
	case 8:
		y = y * y
	case 9:
		y = y * y * y
	case 10:
		y = math.Sqrt(y)
	case 11:
		y = math.Cbrt(y)
	default:
		return 0, fmt.Errorf("%w: non-linear sensor formula %#02x needs Get Sensor Reading Factors, not supported", bmc.ErrMalformed, f.linear)
	}
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return 0, fmt.Errorf("%w: raw %#02x converts to %v (M=%d B=%d Bexp=%d Rexp=%d L=%d)", bmc.ErrMalformed, raw, y, f.m, f.b, f.bExp, f.rExp, f.linear)
	}
	return y, nil
}

// value converts raw and applies the sensor's temperature conversion.
func (s *sdrSensor) value(raw uint8) (float64, error) {
	v, err := s.f.convert(raw)
	if err != nil {
		return 0, fmt.Errorf("sensor %q: %w", s.name, err)
	}
	if s.toC != nil {
		v = s.toC(v)
	}
	return v, nil
}

// thresholds converts the raw thresholds whose bit is set in mask (bit0
// LNC .. bit5 UNR); a threshold that does not convert is left unset.
func (s *sdrSensor) thresholds(mask uint8, raw [6]uint8) sensor.Thresholds {
	var t sensor.Thresholds
	dst := [6]*sensor.Limit{&t.LowerCaution, &t.LowerCritical, &t.LowerFatal, &t.UpperCaution, &t.UpperCritical, &t.UpperFatal}
	for i := range 6 {
		if mask&(1<<i) == 0 {
			continue
		}
		if v, err := s.value(raw[i]); err == nil {
			*dst[i] = sensor.At(v)
		}
	}
	return t
}

// scale returns v*10^e, dividing for negative e so that decimal factors
// such as 10^-3 add no binary noise (11.904, not 11.904000000000002).
func scale(v float64, e int8) float64 {
	if e < 0 {
		return v / math.Pow10(int(-e))
	}
	return v * math.Pow10(int(e))
}
