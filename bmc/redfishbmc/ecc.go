package redfishbmc

import (
	"strconv"
	"strings"
)

// isCorrectableECC reports whether a log entry records a correctable
// memory (ECC) error. The forms recognised:
//
//   - An IPMI SEL entry (EntryType "SEL", SensorType "Memory") whose
//     MessageId holds the record's event bytes as the DMTF LogEntry schema
//     gives them, "0xNNaabbcc" (NN the event direction and type byte, aa
//     event data 1): event type 0x6F (sensor-specific), an assertion, and
//     offset 0 in the low nibble of event data 1, "correctable ECC / other
//     correctable memory error" (IPMI v2.0 table 42-3), the one
//     bmc/ipmibmc maps. EntryCode, when given, must not be "Deassert".
//   - A registry message of one: OpenBMC's MemoryECCCorrectable and
//     ADDDCCorrectable (any registry prefix: the keys are unambiguous), and
//     the iDRAC registry's MEM0701 and MEM0702 ("Correctable memory error
//     rate exceeded", Warning and Critical; only under an IDRAC prefix, as
//     the bare codes are vendor-specific).
//
// Nothing else counts, and free text (Message) is never read: an
// uncorrectable error (SEL offset 1, MemoryECCUncorrectable, MEM0001) is
// no correctable one, nor is a SEL entry whose MessageId does not hold the
// event bytes.
func isCorrectableECC(e logEntryDoc) bool {
	if e.EntryType == "SEL" {
		return e.SensorType == "Memory" && e.EntryCode != "Deassert" && selCorrectableECC(e.MessageID)
	}
	prefix, key := "", e.MessageID
	if i := strings.IndexByte(key, '.'); i >= 0 {
		prefix, key = key[:i], messageKey(key)
	}
	switch key {
	case "MemoryECCCorrectable", "ADDDCCorrectable":
		return true
	case "MEM0701", "MEM0702":
		return strings.EqualFold(prefix, "IDRAC")
	}
	return false
}

// selCorrectableECC reports whether a SEL MessageId "0xNNaabbcc" is a
// sensor-specific (0x6F) assertion of offset 0.
func selCorrectableECC(id string) bool {
	if len(id) != 10 || (id[:2] != "0x" && id[:2] != "0X") {
		return false
	}
	v, err := strconv.ParseUint(id[2:], 16, 32)
	if err != nil {
		return false
	}
	dirType, data1 := byte(v>>24), byte(v>>16)
	return dirType == 0x6f && data1&0x0f == 0
}
