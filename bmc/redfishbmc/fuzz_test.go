package redfishbmc

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
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
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := newSSEReader(bytes.NewReader(stream))
		for i := 0; ; i++ {
			m, err := r.Next()
			if err != nil {
				return
			}
			if len(m.Data) > maxSSEEvent || i > len(stream) {
				t.Fatalf("message %d of %d bytes from a %d-byte stream", i, len(m.Data), len(stream))
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
