package redfishbmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

func seedFiles(f *testing.F, paths ...string) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkReading: what every converted reading must satisfy.
func checkReading(t *testing.T, r sensor.Reading) {
	t.Helper()
	if r.Status == sensor.StatusUnavailable && r.Value != 0 {
		t.Fatalf("unavailable reading %q with value %v", r.Name, r.Value)
	}
	if err := r.Validate(); err != nil && r.Name != "" {
		t.Fatalf("returned reading does not validate: %v", err)
	}
}

func FuzzDecodeSensor(f *testing.F) {
	seedFiles(f, "testdata/mini/Chassis/1/Sensors/CPUTemp/index.json", "testdata/mini/Chassis/1/Sensors/VIn/index.json",
		"testdata/mini/Chassis/1/Sensors/PSU2In/index.json")
	f.Add([]byte(`{"Name":"x","Reading":1e308,"ReadingType":"Voltage"}`))
	f.Add([]byte(`{"Name":"x","Reading":"12","Thresholds":{"UpperCritical":{"Reading":null}}}`))
	f.Add([]byte(`{"Id":"f","Reading":-5,"ReadingType":"Percent","PhysicalContext":"Fan"}`))
	f.Add([]byte(`{"Name":"t","Reading":40,"ReadingType":"Temperature","Thresholds":{"UpperCritical":{"Reading":1e300}}}`))
	f.Add([]byte(`{"Name":"o","Reading":1e300,"ReadingType":"Frequency"}`))
	f.Add([]byte(`{"Name":"o","Reading":5,"ReadingType":"Frequency","Thresholds":{"LowerFatal":{"Reading":-1e13}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, keep, err := decodeSensor(body, time.Unix(1, 0), nil)
		if err == nil && keep {
			checkReading(t, r)
			if r.Name == "" {
				t.Fatal("reading without a name and no error")
			}
		}
		if r.Status == sensor.StatusUnavailable && r.Value != 0 {
			t.Fatalf("unavailable with value %v", r.Value)
		}
	})
}

func FuzzDecodeLegacy(f *testing.F) {
	f.Add([]byte(`{"Temperatures":[{"Name":"A","ReadingCelsius":40,"UpperThresholdCritical":80}],"Fans":[{"FanName":"F","Reading":3000,"ReadingUnits":"RPM","LowerThresholdFatal":500}]}`))
	f.Add([]byte(`{"Voltages":[{"Name":"12V","ReadingVolts":12.1}],"PowerSupplies":[{"Name":"P","LineInputVoltage":230,"LastPowerOutputWatts":100,"Status":{"State":"Enabled"}}],"PowerControl":[{"Name":"C","PowerConsumedWatts":null}]}`))
	f.Add([]byte(`{"Temperatures":[{"ReadingCelsius":"x"},null,7,{"RelatedItem":[{"@odata.id":"/redfish/v1/Chassis/Blade1"}]}]}`))
	f.Add([]byte(`{"Temperatures":[{"Name":"A","ReadingCelsius":40,"UpperThresholdFatal":1e300}],"Fans":[{"Name":"F","Reading":3000,"LowerThresholdCritical":-1}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		filter := func(items []odataRef) bool { return len(items) == 0 || items[0].ID == "/redfish/v1/Chassis/Blade1" }
		rs, _ := decodeLegacy(body, time.Unix(1, 0), filter)
		for _, r := range rs {
			if r.Name == "" {
				t.Fatal("reading without a name")
			}
			checkReading(t, r)
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"Events":[{"EventTimestamp":"2026-01-01T00:00:00Z","MessageId":"X","MessageSeverity":"Critical","OriginOfCondition":{"@odata.id":"/redfish/v1/Systems/1"}}]}`))
	f.Add([]byte(`{"Events":[{"Severity":"Warning","OriginOfCondition":"/redfish/v1/Chassis/1"}]}`))
	f.Add([]byte(`{"@odata.type":"#MetricReport.v1_0_0.MetricReport"}`))
	f.Add([]byte(`{"Events":[{"OriginOfCondition":[1,2]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := parseEvent(data)
		if err != nil && evs != nil {
			t.Fatal("events returned with an error")
		}
		for _, e := range evs {
			if len(e.Message) > 203 || len(e.Source) > 203 {
				t.Fatalf("untruncated text: %d/%d bytes", len(e.Message), len(e.Source))
			}
		}
	})
}

func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("id: 1\ndata: {\"a\":1}\n\n"))
	f.Add([]byte(": keep-alive\r\n\r\nevent: x\r\ndata: a\r\ndata: b\r\n\r\n"))
	f.Add([]byte("data: unterminated"))
	f.Add([]byte("data\n\nid: \x00\ndata:x\n\n"))
	f.Add([]byte("retry: 3000\nid: 41\ndata: a\n\nid\ndata: b\n\n"))
	f.Add([]byte("retry: 99999999999999999999999\n\nretry: -5\nretry: 1e3\ndata: x\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := newSSEReader(bytes.NewReader(stream))
		for i := 0; ; i++ {
			if r.retry < 0 || r.retry > maxSSERetry {
				t.Fatalf("retry %v out of bounds", r.retry)
			}
			m, err := r.Next()
			if err != nil {
				return
			}
			if len(m.Data) > maxSSEEvent || i > len(stream) {
				t.Fatalf("message %d of %d bytes from a %d-byte stream", i, len(m.Data), len(stream))
			}
			if strings.ContainsAny(m.ID, "\x00\r\n") || m.ID != r.lastID {
				t.Fatalf("event id %q (last %q): a NUL or line end, or not the last id", m.ID, r.lastID)
			}
		}
	})
}

func TestSSEReader(t *testing.T) {
	in := ": hello\n\nid: 7\nevent: e\ndata: line1\r\ndata:line2\n\ndata: x" // the last event is unterminated
	r := newSSEReader(bytes.NewReader([]byte(in)))
	m, err := r.Next()
	if err != nil || m.ID != "7" || m.Event != "e" || string(m.Data) != "line1\nline2" {
		t.Fatalf("got %+v %v", m, err)
	}
	if _, err := r.Next(); err == nil {
		t.Fatal("an unterminated event was dispatched")
	}
	long := bytes.Repeat([]byte("x"), maxSSELine+1)
	r = newSSEReader(bytes.NewReader(append(append([]byte("data: "), long...), '\n', '\n')))
	if _, err := r.Next(); err != errSSETooLong {
		t.Fatalf("oversized line: %v", err)
	}
}

// FuzzLink: whatever a service supplies as a link, an accepted one is an
// absolute path that keeps the request on the endpoint's origin.
func FuzzLink(f *testing.F) {
	for _, l := range []string{
		"/redfish/v1/Systems/1", "https://127.0.0.1:8443/redfish/v1/", "https://127.0.0.1:8443", "http://127.0.0.1:8443/x",
		"https://127.0.0.1:9999/x", "//127.0.0.1:9999/x", "@evil:1/x", "https://a:b@127.0.0.1:8443/x", "x/y",
		"/x?y=1", "/x#frag", "HTTPS://127.0.0.1:8443/X", "https://127.0.0.1:8443@evil/x", "/\\evil/x", "https:/x", "https:x",
		"/%2F%2Fevil/x", "https://[::1]:8443/x", "/x y\x00", "javascript:x",
	} {
		f.Add(l)
	}
	o, err := originOf("https://127.0.0.1:8443")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		p, err := o.link(ref)
		if err != nil {
			if !errors.Is(err, bmc.ErrMalformed) {
				t.Fatalf("link(%q): %v, want ErrMalformed", ref, err)
			}
			return
		}
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
			t.Fatalf("link(%q) = %q, not an absolute path", ref, p)
		}
		u, err := url.Parse(o.String() + p)
		if err != nil || !o.same(u) || u.RawQuery != "" {
			t.Fatalf("link(%q) = %q leaves the origin: %v %v", ref, p, u, err)
		}
	})
}

func TestSSEReaderIDAndRetry(t *testing.T) {
	r := newSSEReader(bytes.NewReader([]byte("retry: 2500\nid: 7\ndata: a\n\ndata: b\n\nid:\ndata: c\n\nretry: x\ndata: d\n\n")))
	var ids []string
	for {
		m, err := r.Next()
		if err != nil {
			break
		}
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "7,7,," || r.retry != 2500*time.Millisecond {
		t.Fatalf("ids %q retry %v; want the id kept until reset, retry 2.5 s (a bad retry ignored)", ids, r.retry)
	}
	r = newSSEReader(bytes.NewReader([]byte("id: 9\rdata: z\r\r")))
	if m, err := r.Next(); err != nil || m.ID != "9" || string(m.Data) != "z" {
		t.Fatalf("lone CR line ends: %+v %v", m, err)
	}
	if d, ok := parseRetry([]byte("99999999999999999999")); !ok || d != maxSSERetry {
		t.Fatalf("huge retry: %v %v", d, ok)
	}
}

// FuzzHostWatchdog: whatever the service sends as HostWatchdogTimer, the
// answer is a valid state or an error naming why (not offered, or
// malformed).
func FuzzHostWatchdog(f *testing.F) {
	f.Add([]byte(`{"FunctionEnabled":true,"TimeoutAction":"ResetSystem","Status":{"State":"Enabled","Health":"OK"}}`))
	f.Add([]byte(`{"FunctionEnabled":false,"Status":{"State":"Disabled"},"TimeoutAction":"PowerDown","WarningAction":"None"}`))
	f.Add([]byte(`{"FunctionEnabled":"yes"}`))
	f.Add([]byte(`{"TimeoutAction":"OEM"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := decodeHostWatchdog(raw)
		if err != nil {
			if !errors.Is(err, bmc.ErrNotOffered) && !errors.Is(err, bmc.ErrMalformed) {
				t.Fatalf("error %v wraps neither ErrNotOffered nor ErrMalformed", err)
			}
			if st != (watchdog.State{}) {
				t.Fatalf("state %+v returned with an error", st)
			}
			return
		}
		if st.Action > watchdog.ActionPowerCycle || st.Expired || st.Timeout != 0 || st.Remaining != 0 {
			t.Fatalf("state %+v: Redfish gives no timeout, and expiry is not in this object", st)
		}
	})
}

// FuzzLinkQuery: a paging link keeps the request on the endpoint's
// origin, its query free of line ends and spaces.
func FuzzLinkQuery(f *testing.F) {
	for _, l := range []string{"/redfish/v1/Systems/1/LogServices/Log/Entries?$skip=50", "/x?$skiptoken=2#f", "https://evil/x?$skip=1",
		"/x?a=%zz", "/x? y", "/x?", "//evil/x?$top=1", "/x?$skip=1\r\nHost: evil"} {
		f.Add(l)
	}
	o, err := originOf("https://127.0.0.1:8443")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		p, err := o.linkQuery(ref)
		if err != nil {
			if !errors.Is(err, bmc.ErrMalformed) {
				t.Fatalf("linkQuery(%q): %v, want ErrMalformed", ref, err)
			}
			return
		}
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, " \x00\r\n#") {
			t.Fatalf("linkQuery(%q) = %q", ref, p)
		}
		u, err := url.Parse(o.String() + p)
		if err != nil || !o.same(u) {
			t.Fatalf("linkQuery(%q) = %q leaves the origin: %v %v", ref, p, u, err)
		}
	})
}

// FuzzLogEntry: a log entry decodes or is skipped without panic, and one
// taken for a correctable memory error is never an uncorrectable one, a
// deassertion, another SEL sensor or another offset.
func FuzzLogEntry(f *testing.F) {
	for _, s := range []string{
		`{"@odata.id":"/e/1","Id":"1","EntryType":"SEL","SensorType":"Memory","EntryCode":"Assert","MessageId":"0x6FA00001"}`,
		`{"EntryType":"SEL","SensorType":"Memory","MessageId":"0x6FA10001"}`,
		`{"EntryType":"SEL","SensorType":"Memory","EntryCode":"Deassert","MessageId":"0x6F000000"}`,
		`{"EntryType":"SEL","SensorType":"Temperature","MessageId":"0x592A28"}`,
		`{"EntryType":"Event","MessageId":"OpenBMC.0.1.MemoryECCCorrectable","Links":{"OriginOfCondition":{"@odata.id":"/redfish/v1/Systems/1/Memory/1"}}}`,
		`{"MessageId":"OpenBMC.0.1.MemoryECCUncorrectable"}`,
		`{"MessageId":"IDRAC.2.8.MEM0701"}`, `{"MessageId":"Acme.MEM0702"}`, `{"MessageId":"."}`, `{"MessageId":"0x"}`,
		`{"Links":{"OriginOfCondition":"x"}}`, `{"SensorType":7}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e logEntryDoc
		if json.Unmarshal(data, &e) != nil || !isCorrectableECC(e) {
			return
		}
		if strings.Contains(strings.ToLower(messageKey(e.MessageID)), "uncorrectable") {
			t.Fatalf("%q taken for a correctable error", e.MessageID)
		}
		if e.EntryType != "SEL" {
			return
		}
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(e.MessageID, "0x"), "0X"), 16, 32)
		if e.SensorType != "Memory" || e.EntryCode == "Deassert" || err != nil || v>>24 != 0x6f || (v>>16)&0x0f != 0 {
			t.Fatalf("SEL entry %+v taken for a correctable memory error", e)
		}
	})
}
