package redfishbmc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/internal/logsink"
)

// The DMTF tower's system log (two temperature SEL entries, and a
// nextLink the test server answers with the same page again).
const (
	towerPath = "/redfish/v1/Systems/" + towerSys
	towerLog  = towerPath + "/LogServices/Log1/Entries"
)

// eccTower serves the DMTF tower; the adapter reads the log whenever
// asked and logs into the returned buffer.
func eccTower(t *testing.T, tweak func(*Config)) (*redfishsim.Server, *BMC, *logsink.Buffer) {
	t.Helper()
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{})
	cfg := testConfig(s, "")
	cfg.WatchdogLogInterval = time.Nanosecond
	logs := &logsink.Buffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if tweak != nil {
		tweak(&cfg)
	}
	return s, open(t, cfg), logs
}

// healthEvents calls Health, waits for the log read it started in the
// background, calls Health again (which returns what that read found)
// and waits for its read too; it returns the events of both calls.
func healthEvents(t *testing.T, b *BMC) []bmc.Event {
	t.Helper()
	var out []bmc.Event
	for range 2 {
		h, err := b.Health(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatalf("Health: %v", err)
		}
		out = append(out, h.Events...)
		b.bg.Wait() // the background read Health started, if any
	}
	return out
}

func eccEvents(evs []bmc.Event) []bmc.Event {
	var out []bmc.Event
	for _, e := range evs {
		if e.Kind == bmc.EventCorrectableECC {
			out = append(out, e)
		}
	}
	return out
}

func addEntry(t *testing.T, s *redfishsim.Server, coll string, e map[string]any) {
	t.Helper()
	if _, err := s.AddLogEntry(coll, e); err != nil {
		t.Fatal(err)
	}
}

func originLink(p string) map[string]any {
	return map[string]any{"OriginOfCondition": map[string]any{"@odata.id": p}}
}

// The forms of a correctable memory error real services log, each one
// error.
var correctableEntries = []map[string]any{
	{"EntryType": "Event", "Severity": "Warning", "MessageId": "OpenBMC.0.1.MemoryECCCorrectable",
		"MessageArgs": []any{"0", "A", "1", "0"}, "Message": "Memory ECC correctable error. Socket=0 Channel=A DIMM=1 Rank=0.",
		"Links": originLink(towerPath + "/Memory/DIMM1")},
	{"EntryType": "SEL", "Severity": "Warning", "SensorType": "Memory", "SensorNumber": 135, "EntryCode": "Assert",
		"MessageId": "0x6FA00001", "Message": "Correctable ECC", "Links": originLink("/redfish/v1/Chassis/Tower")},
	{"EntryType": "Event", "Severity": "Warning", "MessageId": "IDRAC.2.8.MEM0701",
		"Message": "Correctable memory error rate exceeded for DIMM_A1."},
	{"EntryType": "Event", "Severity": "Warning", "MessageId": "OpenBMC.0.1.ADDDCCorrectable",
		"Message": "ADDDC Correctable Error.Socket=0 Channel=A DIMM=1 Rank=0."},
}

// Entries that are not correctable memory errors of this system.
var otherEntries = []map[string]any{
	{"EntryType": "Event", "Severity": "Critical", "MessageId": "OpenBMC.0.1.MemoryECCUncorrectable",
		"Message": "Memory ECC uncorrectable error. Socket=0 Channel=A DIMM=1 Rank=0.", "Links": originLink(towerPath + "/Memory/DIMM1")},
	{"EntryType": "SEL", "Severity": "Critical", "SensorType": "Memory", "EntryCode": "Assert", "MessageId": "0x6FA10001", "Message": "Uncorrectable ECC"},
	{"EntryType": "SEL", "Severity": "OK", "SensorType": "Memory", "EntryCode": "Deassert", "MessageId": "0xEFA00001", "Message": "Correctable ECC deasserted"},
	{"EntryType": "SEL", "Severity": "Warning", "SensorType": "Memory", "EntryCode": "Assert", "MessageId": "0x6FA00001FF", "Message": "too long"},
	{"EntryType": "SEL", "Severity": "Critical", "SensorType": "Temperature", "EntryCode": "Upper Critical - going high",
		"MessageId": "0x01570000", "Message": "Temperature threshold exceeded", "Links": originLink("/redfish/v1/Chassis/Tower/Thermal")},
	{"EntryType": "Event", "Severity": "Critical", "MessageId": "IDRAC.2.8.MEM0001", "Message": "Multi-bit memory errors detected."},
	{"EntryType": "Event", "Severity": "Warning", "MessageId": "Acme.1.0.MEM0701", "Message": "not the iDRAC registry"},
	{"EntryType": "Event", "Severity": "Warning", "MessageId": "OpenBMC.0.1.MemoryECCCorrectable",
		"Message": "another system's", "Links": originLink("/redfish/v1/Systems/other/Memory/DIMM1")},
}

// A new correctable memory error in the system's log is one
// EventCorrectableECC in Health, whatever its form; entries already in
// the log at the first look, uncorrectable errors, other sensors and
// other systems are none.
func TestCorrectableECCFromLog(t *testing.T) {
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{Username: testUser, Password: testPass})
	addEntry(t, s, towerLog, correctableEntries[0]) // history at the first look
	cfg := testConfig(s, "")
	cfg.WatchdogLogInterval = time.Nanosecond
	b := open(t, cfg)
	if evs := healthEvents(t, b); len(evs) != 0 {
		t.Fatalf("first look reported %+v; the log's entries are history", evs)
	}
	for _, e := range otherEntries {
		addEntry(t, s, towerLog, e)
	}
	for _, e := range correctableEntries {
		addEntry(t, s, towerLog, e)
	}
	evs := healthEvents(t, b)
	if got := eccEvents(evs); len(got) != len(correctableEntries) || len(evs) != len(got) {
		t.Fatalf("events %+v: want exactly %d correctable ECC events and nothing else", evs, len(correctableEntries))
	}
	for i, e := range evs {
		if e.Severity != bmc.SeverityWarning || !strings.Contains(e.Message, correctableEntries[i]["MessageId"].(string)) {
			t.Errorf("event %d = %+v, want a warning naming %v", i, e, correctableEntries[i]["MessageId"])
		}
	}
	if evs[0].Source != towerPath+"/Memory/DIMM1" || evs[2].Source != towerPath {
		t.Errorf("sources %q, %q: want the origin, else the system", evs[0].Source, evs[2].Source)
	}
	if evs := healthEvents(t, b); len(evs) != 0 {
		t.Fatalf("the same entries reported again: %+v", evs)
	}
	addEntry(t, s, towerLog, correctableEntries[1])
	if got := eccEvents(healthEvents(t, b)); len(got) != 1 {
		t.Fatalf("one more entry gave %d events, want 1", len(got))
	}
}

// Health never waits on the log: a log that answers slowly delays only
// the correctable errors, never the health read.
func TestCorrectableECCLogNotWaited(t *testing.T) {
	s, b, _ := eccTower(t, nil)
	healthEvents(t, b)
	addEntry(t, s, towerLog, correctableEntries[0])
	s.Inject(redfishsim.Fault{Path: towerLog, Method: "GET", Latency: 1500 * time.Millisecond, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	h, err := b.Health(ctx)
	if err != nil || time.Since(start) > 750*time.Millisecond {
		t.Fatalf("Health with a slow log: %v after %v; it must not wait for the log", err, time.Since(start))
	}
	if len(h.Events) != 0 {
		t.Fatalf("events %+v before the log answered", h.Events)
	}
	if got := eccEvents(healthEvents(t, b)); len(got) != 1 {
		t.Fatalf("after the slow read: %d correctable events, want 1", len(got))
	}
}

// Bad answers from the log: a clear error in the adapter's log, no
// event, no panic, and what was seen stays seen.
func TestCorrectableECCLogMalformed(t *testing.T) {
	s, b, logs := eccTower(t, func(c *Config) { c.MaxBodyBytes = 64 << 10 })
	healthEvents(t, b)
	for _, tc := range []struct {
		name string
		f    redfishsim.Fault
		want string // in the adapter's log
	}{
		{"truncated JSON", redfishsim.Fault{Malformed: true}, "malformed"},
		{"Members not an array", redfishsim.Fault{Body: []byte(`{"Members":{"a":1}}`)}, "malformed"},
		{"oversize", redfishsim.Fault{Oversize: 128 << 10}, "log unreadable"},
		{"server error", redfishsim.Fault{Status: 500}, "log unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Path, tc.f.Method, tc.f.Times = towerLog, "GET", 2
			s.Inject(tc.f)
			if evs := healthEvents(t, b); len(evs) != 0 {
				t.Fatalf("events %+v from a bad log answer", evs)
			}
			if l := logs.String(); !strings.Contains(l, "log unreadable") || !strings.Contains(l, tc.want) || !strings.Contains(l, towerLog) {
				t.Fatalf("adapter log does not say what was wrong: %s", l)
			}
			s.ClearFaults()
		})
	}
	// Bad members are skipped (noted once), good ones counted.
	page := `{"Members":["x",7,null,
		{"MessageId":"OpenBMC.0.1.MemoryECCCorrectable","Message":"no identity"},
		{"@odata.id":"/x/1","Id":"1","MessageId":"OpenBMC.0.1.MemoryECCCorrectable","Links":{"OriginOfCondition":"not a link"}},
		{"@odata.id":"/x/2","Id":"2","EntryType":"SEL","SensorType":7,"MessageId":"0x6FA00001"},
		{"@odata.id":"/x/3","Id":"3","MessageId":"OpenBMC.0.1.MemoryECCCorrectable","Message":"good"}]}`
	s.Inject(redfishsim.Fault{Path: towerLog, Method: "GET", Body: []byte(page)})
	evs := healthEvents(t, b)
	if got := eccEvents(evs); len(got) != 1 || len(evs) != 1 || !strings.HasSuffix(got[0].Message, "good") {
		t.Fatalf("events %+v, want the one good entry", evs)
	}
	if l := logs.String(); !strings.Contains(l, "log entries skipped") {
		t.Fatalf("skipped entries not noted: %s", l)
	}
	s.ClearFaults()
	if evs := healthEvents(t, b); len(evs) != 0 {
		t.Fatalf("events %+v after the faults cleared", evs)
	}
}

// A burst larger than maxECCPerRead gives maxECCPerRead events, says so
// in the adapter's log, and is not reported again.
func TestCorrectableECCBurstBounded(t *testing.T) {
	s, b, logs := eccTower(t, nil)
	healthEvents(t, b)
	for i := range 3 * maxECCPerRead {
		e := map[string]any{"EntryType": "Event", "MessageId": "OpenBMC.0.1.MemoryECCCorrectable", "Message": fmt.Sprint("burst ", i)}
		addEntry(t, s, towerLog, e)
	}
	if got := eccEvents(healthEvents(t, b)); len(got) != maxECCPerRead {
		t.Fatalf("%d events for a burst of %d, want %d", len(got), 3*maxECCPerRead, maxECCPerRead)
	}
	if !strings.Contains(logs.String(), "not_reported=64") {
		t.Errorf("the bound is not logged: %s", logs.String())
	}
	if evs := healthEvents(t, b); len(evs) != 0 {
		t.Fatalf("%d events the next time, want 0", len(evs))
	}
}

// The log's watchdog expiry survives a burst of correctable errors in the
// queue for Health.
func TestKeepForHealthKeepsCritical(t *testing.T) {
	b := &BMC{&adapter{}}
	b.keepForHealth(bmc.Event{Severity: bmc.SeverityCritical, Message: "watchdog expired"})
	for range 3 * eventBuffer {
		b.keepForHealth(bmc.Event{Severity: bmc.SeverityWarning, Kind: bmc.EventCorrectableECC})
	}
	if len(b.pending) != eventBuffer || b.pending[0].Message != "watchdog expired" || b.pending[eventBuffer-1].Kind != bmc.EventCorrectableECC {
		t.Fatalf("queue of %d, first %+v: want %d with the critical event kept", len(b.pending), b.pending[0], eventBuffer)
	}
}

// An event on the stream is never counted: services log what they send,
// and the log counts each error once.
func TestCorrectableECCNotFromStream(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	ch, err := b.Events(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitStreams(t, s, 1)
	s.Publish(redfishsim.Event{Origin: miniSys, MessageID: "OpenBMC.0.1.MemoryECCCorrectable", Message: "Memory ECC correctable error.", Severity: "Warning"})
	ev, ok := next(t, ch, 5*time.Second)
	if !ok || ev.Kind != "" || ev.Severity != bmc.SeverityWarning {
		t.Fatalf("stream event %+v %v: want a plain warning, not counted", ev, ok)
	}
}

func TestIsCorrectableECC(t *testing.T) {
	for _, tc := range []struct {
		e    logEntryDoc
		want bool
	}{
		{logEntryDoc{MessageID: "OpenBMC.0.1.MemoryECCCorrectable"}, true},
		{logEntryDoc{MessageID: "MemoryECCCorrectable"}, true},
		{logEntryDoc{EntryType: "Event", MessageID: "OpenBMC.0.5.ADDDCCorrectable"}, true},
		{logEntryDoc{MessageID: "IDRAC.2.8.MEM0701"}, true},
		{logEntryDoc{MessageID: "iDRAC.2.9.MEM0702"}, true},
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "0x6F000000"}, true},
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", EntryCode: "Assert", MessageID: "0X6fa0ff10"}, true},
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "0x6FF00000"}, true}, // data-2/3 usage bits set, offset 0
		{logEntryDoc{MessageID: "OpenBMC.0.1.MemoryECCUncorrectable"}, false},
		{logEntryDoc{MessageID: "IDRAC.2.8.MEM0001"}, false},
		{logEntryDoc{MessageID: "MEM0701"}, false},
		{logEntryDoc{MessageID: "Acme.1.0.MEM0702"}, false},
		{logEntryDoc{MessageID: "OpenBMC.0.1.MemoryECCCorrectableX"}, false},
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "0x6FA10001"}, false},                        // uncorrectable
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "0x6FA50001"}, false},                        // logging limit reached: no error
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "0xEFA00001"}, false},                        // deassertion
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", EntryCode: "Deassert", MessageID: "0x6FA00001"}, false}, // says deassert
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "0x01A00001"}, false},                        // threshold type
		{logEntryDoc{EntryType: "SEL", SensorType: "Temperature", MessageID: "0x6FA00001"}, false},
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "OpenBMC.0.1.MemoryECCCorrectable"}, false},
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "0x592A28"}, false},
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "0x6FA0000G"}, false},
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: "0x+FA00001"}, false},
		{logEntryDoc{EntryType: "SEL", SensorType: "Memory", MessageID: ""}, false},
		{logEntryDoc{Message: "Correctable ECC memory error"}, false}, // free text is never read
		{logEntryDoc{}, false},
	} {
		if got := isCorrectableECC(tc.e); got != tc.want {
			t.Errorf("isCorrectableECC(%+v) = %v, want %v", tc.e, got, tc.want)
		}
	}
}
