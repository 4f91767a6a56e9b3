package ipmibmc

import (
	"fmt"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/watchdog"
)

// The decoders below take the data of an answer after its completion code.
// Each checks the length it needs and returns an error wrapping
// bmc.ErrMalformed otherwise; extra trailing bytes are ignored (some BMCs
// append padding).

// reading is a decoded Get Sensor Reading answer.
type reading struct {
	raw         uint8
	unavailable bool // "reading/state unavailable" set or scanning disabled
}

func decodeReading(d []byte) (reading, error) {
	if len(d) < 2 {
		return reading{}, fmt.Errorf("%w: Get Sensor Reading answer of %d bytes, needs 2", bmc.ErrMalformed, len(d))
	}
	return reading{raw: d[0], unavailable: d[1]&0x20 != 0 || d[1]&0x40 == 0}, nil
}

// decodeThresholds decodes Get Sensor Thresholds: a readable mask (bit0
// LNC .. bit5 UNR) and the six raw values in that order. BMCs may omit
// trailing thresholds they do not read out; those are treated as unset.
func decodeThresholds(d []byte) (mask uint8, raw [6]uint8, err error) {
	if len(d) < 1 {
		return 0, raw, fmt.Errorf("%w: Get Sensor Thresholds answer is empty", bmc.ErrMalformed)
	}
	mask = d[0] & 0x3f
	for i := range 6 {
		if 1+i < len(d) {
			raw[i] = d[1+i]
		} else {
			mask &^= 1 << i
		}
	}
	return mask, raw, nil
}

// wdState is a decoded Get Watchdog Timer answer.
type wdState struct {
	use        uint8 // timer use (4 = SMS/OS)
	running    bool  // "timer is started" bit
	action     watchdog.Action
	flags      uint8 // expiration flags (bit 1..5 per timer use)
	initial    time.Duration
	present    time.Duration
	hasPresent bool // the answer carried the present countdown (8 bytes)
}

// expired reports the expiration flag of the timer's own use, or any flag
// when the use is unspecified.
func (w wdState) expired() bool {
	if w.use >= 1 && w.use <= 5 {
		return w.flags&(1<<w.use) != 0
	}
	return w.flags&0x3e != 0
}

// decodeWatchdog accepts the full 8-byte answer and the 6-byte answer some
// BMCs give (no present countdown), unlike go-ipmi's decoder.
func decodeWatchdog(d []byte) (wdState, error) {
	if len(d) < 6 {
		return wdState{}, fmt.Errorf("%w: Get Watchdog Timer answer of %d bytes, needs at least 6", bmc.ErrMalformed, len(d))
	}
	w := wdState{
		use:     d[0] & 0x07,
		running: d[0]&0x40 != 0,
		flags:   d[3] & 0x3e,
		initial: time.Duration(le16(d[4:6])) * 100 * time.Millisecond,
	}
	switch d[1] & 0x07 {
	case 0:
		w.action = watchdog.ActionNone
	case 1:
		w.action = watchdog.ActionHardReset
	case 2:
		w.action = watchdog.ActionPowerDown
	case 3:
		w.action = watchdog.ActionPowerCycle
	default:
		return wdState{}, fmt.Errorf("%w: Get Watchdog Timer: timeout action %d unknown", bmc.ErrMalformed, d[1]&0x07)
	}
	if len(d) >= 8 {
		w.present = time.Duration(le16(d[6:8])) * 100 * time.Millisecond
		w.hasPresent = true
	}
	return w, nil
}

// Watchdog request fields.
const (
	wdUseSMSOS     = 0x04
	wdClearAll     = 0x3e
	wdMaxCountdown = 0xffff // 100 ms units: 6553.5 s
)

// encodeSetWatchdog builds a Set Watchdog Timer request for the SMS/OS
// timer; the "don't stop" bit is clear, so the timer stops until the next
// Reset Watchdog Timer. clear holds the expiration flags to clear.
// pretimeout adds a messaging-interrupt pre-timeout action (interval 0).
func encodeSetWatchdog(action watchdog.Action, countdown uint16, clear uint8, pretimeout bool) []byte {
	actions := byte(action) & 0x07
	if pretimeout {
		actions |= 0x30
	}
	return []byte{wdUseSMSOS, actions, 0, clear, byte(countdown), byte(countdown >> 8)}
}

// chassis is a decoded Get Chassis Status answer (IPMI 2.0 table 28-3,
// byte 1): bit 0 power on, 1 overload, 2 interlock, 3 main power fault,
// 4 power control fault.
type chassis struct {
	on, overload, interlock, mainFault, controlFault bool
	lastEvent                                        uint8
}

func decodeChassis(d []byte) (chassis, error) {
	if len(d) < 3 {
		return chassis{}, fmt.Errorf("%w: Get Chassis Status answer of %d bytes, needs 3", bmc.ErrMalformed, len(d))
	}
	return chassis{
		on:           d[0]&0x01 != 0,
		overload:     d[0]&0x02 != 0,
		interlock:    d[0]&0x04 != 0,
		mainFault:    d[0]&0x08 != 0,
		controlFault: d[0]&0x10 != 0,
		lastEvent:    d[1],
	}, nil
}

// repoInfo is the part of Get SDR Repository Info and Get SEL Info that
// changes when records are added or erased.
type repoInfo struct {
	count         uint16
	added, erased uint32
}

func decodeRepoInfo(what string, d []byte) (repoInfo, error) {
	if len(d) < 13 {
		return repoInfo{}, fmt.Errorf("%w: %s answer of %d bytes, needs 13", bmc.ErrMalformed, what, len(d))
	}
	return repoInfo{count: le16(d[1:3]), added: le32(d[5:9]), erased: le32(d[9:13])}, nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// decodeNextAndRecord splits a Get SDR or Get SEL Entry answer into the
// next record ID and the record bytes.
func decodeNextAndRecord(what string, d []byte) (next uint16, rec []byte, err error) {
	if len(d) < 2 {
		return 0, nil, fmt.Errorf("%w: %s answer of %d bytes, needs at least 2", bmc.ErrMalformed, what, len(d))
	}
	return le16(d), d[2:], nil
}

// selRecord is a decoded 16-byte SEL record.
type selRecord struct {
	id        uint16
	typ       uint8
	time      time.Time // zero when pre-init or unspecified
	generator uint16
	sensorTyp uint8
	sensorNum uint8
	deassert  bool
	eventType uint8
	data      [3]uint8
}

// selPreInit: timestamps up to this are seconds since BMC start, not since
// 1970 (IPMI 2.0 section 37).
const selPreInit = 0x20000000

func decodeSEL(d []byte) (selRecord, error) {
	if len(d) < 16 {
		return selRecord{}, fmt.Errorf("%w: SEL record of %d bytes, needs 16", bmc.ErrMalformed, len(d))
	}
	r := selRecord{id: le16(d), typ: d[2]}
	if r.typ >= 0xe0 { // OEM, no timestamp
		return r, nil
	}
	if ts := le32(d[3:7]); ts > selPreInit && ts != 0xffffffff {
		r.time = time.Unix(int64(ts), 0).UTC()
	}
	if r.typ >= 0xc0 { // OEM timestamped
		return r, nil
	}
	r.generator = le16(d[7:9])
	r.sensorTyp = d[10]
	r.sensorNum = d[11]
	r.deassert = d[12]&0x80 != 0
	r.eventType = d[12] & 0x7f
	copy(r.data[:], d[13:16])
	return r, nil
}
