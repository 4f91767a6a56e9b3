package ipmisim

// Sensor types (IPMI 2.0 table 42-3) and base units (table 43-15) used by
// the default sensors.
const (
	TypeTemperature = 0x01
	TypeVoltage     = 0x02
	TypeCurrent     = 0x03
	TypeFan         = 0x04

	UnitCelsius = 1
	UnitVolts   = 4
	UnitAmps    = 5
	UnitWatts   = 6
	UnitRPM     = 18
)

// Sensor is one analog threshold sensor of the simulated BMC. Its value
// is Raw converted by y = (M*raw + B*10^BExp) * 10^RExp (unsigned raw,
// linear).
type Sensor struct {
	Number uint8  // sensor number, 1..254 (0 is the watchdog)
	Name   string // ID string, at most 16 bytes
	Type   uint8  // sensor type (TypeVoltage, ...)
	Unit   uint8  // base unit code (UnitVolts, ...)
	M, B   int16  // 10-bit signed factors
	BExp   int8   // 4-bit signed
	RExp   int8   // 4-bit signed
	Raw    uint8  // initial raw reading
	// Thresholds raw, in the order LNC, LCR, LNR, UNC, UCR, UNR; Mask
	// says which are set (bit 0 LNC .. bit 5 UNR).
	Thresholds [6]uint8
	Mask       uint8
}

// Value converts raw with the sensor's factors.
func (s Sensor) Value(raw uint8) float64 {
	return (float64(s.M)*float64(raw) + float64(s.B)*pow10(s.BExp)) * pow10(s.RExp)
}

// RawFor returns the raw reading closest to v.
func (s Sensor) RawFor(v float64) uint8 {
	best, bestD := uint8(0), -1.0
	for r := 0; r < 256; r++ {
		d := s.Value(uint8(r)) - v
		if d < 0 {
			d = -d
		}
		if bestD < 0 || d < bestD {
			best, bestD = uint8(r), d
		}
	}
	return best
}

func pow10(e int8) float64 {
	v := 1.0
	for ; e > 0; e-- {
		v *= 10
	}
	for ; e < 0; e++ {
		v /= 10
	}
	return v
}

// SDR encodes s as a full sensor record (type 01h) with record ID id.
func (s Sensor) SDR(id uint16) []byte {
	name := []byte(s.Name)
	if len(name) > 16 {
		name = name[:16]
	}
	b := make([]byte, 48, 48+len(name))
	b[0], b[1] = byte(id), byte(id>>8)
	b[2] = 0x51 // SDR version
	b[3] = 0x01 // full sensor record
	b[5] = 0x20 // owner: BMC
	b[6] = 0x00 // LUN 0
	b[7] = s.Number
	b[8] = 0x07 // entity: system board
	b[9] = 0x01
	b[10] = 0x7f // initialisation: scanning, events, thresholds, hysteresis, type
	b[11] = 0x68 // capabilities: auto re-arm, thresholds readable and settable (bits 3:2 = 10b)
	b[12] = s.Type
	b[13] = 0x01              // threshold-based
	b[14], b[15] = 0xff, 0x0f // assertion event mask: all threshold events
	b[16], b[17] = 0xff, 0x7f // deassertion event mask
	b[18], b[19] = s.Mask&0x3f, s.Mask&0x3f
	b[20] = 0x00 // unsigned, no rate, no modifier
	b[21] = s.Unit
	b[23] = 0x00 // linear
	b[24], b[25] = byte(s.M), byte(uint16(s.M)>>2)&0xc0
	b[26], b[27] = byte(s.B), byte(uint16(s.B)>>2)&0xc0
	b[29] = byte(s.RExp)<<4 | byte(s.BExp)&0x0f
	b[34] = 0xff // sensor maximum
	// UNR, UCR, UNC, LNR, LCR, LNC
	b[36], b[37], b[38] = s.Thresholds[5], s.Thresholds[4], s.Thresholds[3]
	b[39], b[40], b[41] = s.Thresholds[2], s.Thresholds[1], s.Thresholds[0]
	b[47] = 0xc0 | byte(len(name))
	b = append(b, name...)
	b[4] = byte(len(b) - 5)
	return b
}

// DefaultSensors returns 24 sensors of a typical two-socket server:
// voltages, temperatures, fans, power and current, each with thresholds.
func DefaultSensors() []Sensor {
	volt := func(n uint8, name string, nominal float64) Sensor {
		// 8-bit raw in steps of nominal/128: raw 128 is nominal.
		m := int16(nominal * 1000 / 128)
		s := Sensor{Number: n, Name: name, Type: TypeVoltage, Unit: UnitVolts, M: m, RExp: -3, Mask: 0x3f}
		s.Raw = 128
		s.Thresholds = [6]uint8{115, 109, 102, 141, 147, 154} // about -10/-15/-20 % and +10/+15/+20 %
		return s
	}
	temp := func(n uint8, name string, raw uint8, unc, ucr, unr uint8) Sensor {
		return Sensor{Number: n, Name: name, Type: TypeTemperature, Unit: UnitCelsius, M: 1, Raw: raw,
			Thresholds: [6]uint8{0, 0, 0, unc, ucr, unr}, Mask: 0x38}
	}
	fan := func(n uint8, name string) Sensor {
		return Sensor{Number: n, Name: name, Type: TypeFan, Unit: UnitRPM, M: 60, Raw: 140,
			Thresholds: [6]uint8{20, 15, 10, 0, 0, 0}, Mask: 0x07}
	}
	return []Sensor{
		volt(1, "P12V", 12), volt(2, "P5V", 5), volt(3, "P3V3", 3.3), volt(4, "P5V_STBY", 5),
		volt(5, "P3V3_STBY", 3.3), volt(6, "CPU0_VCORE", 1.8), volt(7, "CPU1_VCORE", 1.8), volt(8, "P1V05_PCH", 1.05),
		volt(9, "VBAT", 3),
		temp(10, "Inlet Temp", 24, 40, 45, 50), temp(11, "Outlet Temp", 35, 65, 70, 75),
		temp(12, "CPU0 Temp", 52, 85, 90, 95), temp(13, "CPU1 Temp", 50, 85, 90, 95),
		temp(14, "DIMM Temp", 40, 80, 85, 90), temp(15, "PCH Temp", 45, 85, 90, 95),
		fan(16, "FAN1"), fan(17, "FAN2"), fan(18, "FAN3"), fan(19, "FAN4"),
		{Number: 20, Name: "PSU1 Power", Type: 0x08, Unit: UnitWatts, M: 4, Raw: 80,
			Thresholds: [6]uint8{0, 0, 0, 200, 220, 240}, Mask: 0x38},
		{Number: 21, Name: "PSU2 Power", Type: 0x08, Unit: UnitWatts, M: 4, Raw: 78,
			Thresholds: [6]uint8{0, 0, 0, 200, 220, 240}, Mask: 0x38},
		{Number: 22, Name: "PSU1 Current", Type: TypeCurrent, Unit: UnitAmps, M: 1, RExp: -1, Raw: 30,
			Thresholds: [6]uint8{0, 0, 0, 150, 170, 190}, Mask: 0x38},
		{Number: 23, Name: "PSU2 Current", Type: TypeCurrent, Unit: UnitAmps, M: 1, RExp: -1, Raw: 29,
			Thresholds: [6]uint8{0, 0, 0, 150, 170, 190}, Mask: 0x38},
		volt(24, "P1V8_AUX", 1.8),
	}
}
