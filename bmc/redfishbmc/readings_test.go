package redfishbmc

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/sensor"
)

var ignoreTime = cmpopts.IgnoreFields(sensor.Reading{}, "Time")

func byName(rs []sensor.Reading) map[string]sensor.Reading {
	m := map[string]sensor.Reading{}
	for _, r := range rs {
		m[r.Name] = r
	}
	return m
}

// The tower's Sensors collection: 35 sensors, the second supply absent.
func TestReadingsTower(t *testing.T) {
	s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	rs, err := b.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 35 {
		t.Fatalf("got %d readings, want the 35 members of Chassis/Tower/Sensors", len(rs))
	}
	m := byName(rs)
	want := sensor.Reading{Name: "Power Supply #1 Input Voltage", Kind: sensor.KindVoltage, Value: 119.27, Unit: "V",
		Thresholds: sensor.Thresholds{LowerCritical: sensor.At(115), LowerCaution: sensor.At(118), UpperCaution: sensor.At(122), UpperCritical: sensor.At(125)}}
	if diff := cmp.Diff(want, m[want.Name], ignoreTime); diff != "" {
		t.Errorf("PS1InputVoltage (-want +got):\n%s", diff)
	}
	unavailable := 0
	for _, r := range rs {
		if err := r.Validate(); err != nil {
			t.Errorf("invalid reading: %v", err)
		}
		if r.Time.IsZero() {
			t.Errorf("%s: no time", r.Name)
		}
		if r.Status == sensor.StatusUnavailable {
			unavailable++
			if r.Value != 0 {
				t.Errorf("%s: unavailable with value %v", r.Name, r.Value)
			}
		}
	}
	if unavailable != 11 {
		t.Errorf("got %d unavailable readings, want the 11 Absent PS2 sensors", unavailable)
	}
	for name, kind := range map[string]sensor.Kind{"Ambient Temperature": sensor.KindTemperature, "Chassis Fan #1": sensor.KindFan,
		"Power Supply #1 Input Current": sensor.KindCurrent, "Power reading for the Chassis": sensor.KindPower} {
		if m[name].Kind != kind || m[name].Status != sensor.StatusOK {
			t.Errorf("%s: kind %v status %v, want %v ok", name, m[name].Kind, m[name].Status, kind)
		}
	}
	if m["Ambient Temperature"].Unit != "C" {
		t.Errorf("Cel should read as C, got %q", m["Ambient Temperature"].Unit)
	}
}

// A blade: its own legacy Thermal, plus what the enclosure reports for it.
func TestReadingsBladeIncludesEnclosure(t *testing.T) {
	s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{})
	b := open(t, testConfig(s, bladeSys))
	rs, err := b.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	want := []string{"CPU Temp", "CPU Fan",
		"MultiBladeEncl: Chassis Intake", "MultiBladeEncl: System Fan 0", "MultiBladeEncl: System Fan 1",
		"MultiBladeEncl: System Fan 2", "MultiBladeEncl: System Fan 3",
		"MultiBladeEncl: Power Supply 0 input voltage", "MultiBladeEncl: Power Supply 0 output power",
		"MultiBladeEncl: Power Supply 1 input voltage", "MultiBladeEncl: Power Supply 1 output power"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	m := byName(rs)
	cpu := sensor.Reading{Name: "CPU Temp", Kind: sensor.KindTemperature, Value: 62, Unit: "C",
		Thresholds: sensor.Thresholds{UpperCaution: sensor.At(75), UpperCritical: sensor.At(90), UpperFatal: sensor.At(95)}}
	if diff := cmp.Diff(cpu, m["CPU Temp"], ignoreTime); diff != "" {
		t.Errorf("CPU Temp (-want +got):\n%s", diff)
	}
	v := m["MultiBladeEncl: Power Supply 0 input voltage"]
	if v.Kind != sensor.KindVoltage || v.Value != 220 || v.Unit != "V" {
		t.Errorf("enclosure supply voltage: %+v", v)
	}
	if f := m["MultiBladeEncl: System Fan 2"]; f.Value != 0 || f.Thresholds.Level(f.Value) != sensor.LevelFatal {
		t.Errorf("stopped fan should read 0 RPM at fatal level: %+v", f)
	}
}

// Enclosure entries that name other blades only are not this blade's.
func TestReadingsEnclosureFilter(t *testing.T) {
	s := startSim(t, mockup(t, "public-bladed"), redfishsim.Options{})
	th, _ := s.Get("/redfish/v1/Chassis/MultiBladeEncl/Thermal")
	temps := th["Temperatures"].([]any)
	other := map[string]any{"Name": "Blade2 inlet", "ReadingCelsius": 30, "Status": map[string]any{"State": "Enabled"},
		"RelatedItem": []any{map[string]any{"@odata.id": "/redfish/v1/Chassis/Blade2"}}}
	wide := map[string]any{"Name": "Rear air", "ReadingCelsius": 31, "Status": map[string]any{"State": "Enabled"}}
	if err := s.Set("/redfish/v1/Chassis/MultiBladeEncl/Thermal", map[string]any{"Temperatures": append(temps, other, wide)}); err != nil {
		t.Fatal(err)
	}
	get := func(sys string) map[string]sensor.Reading {
		b := open(t, testConfig(s, sys))
		rs, err := b.Readings(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return byName(rs)
	}
	b1, b2 := get(bladeSys), get(blade2Sys)
	if _, ok := b1["MultiBladeEncl: Blade2 inlet"]; ok {
		t.Error("blade 1 got a reading related to blade 2 only")
	}
	if _, ok := b2["MultiBladeEncl: Blade2 inlet"]; !ok {
		t.Error("blade 2 lacks its enclosure reading")
	}
	if _, ok := b1["MultiBladeEncl: Rear air"]; !ok {
		t.Error("an enclosure entry with no RelatedItem should reach every blade")
	}
}

// A sensor that fails to load is unavailable, the others still read, and
// the error says which.
func TestReadingsPartial(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	s.Inject(redfishsim.Fault{Path: "/redfish/v1/Chassis/1/Sensors/VIn", Malformed: true, Times: 1})
	rs, err := b.Readings(ctxT(t, 5*time.Second))
	if !errors.Is(err, bmc.ErrMalformed) || !strings.Contains(err.Error(), "Sensors/VIn") {
		t.Fatalf("err = %v, want ErrMalformed naming Sensors/VIn", err)
	}
	want := []sensor.Reading{
		{Name: "CPU temperature", Kind: sensor.KindTemperature, Value: 45, Unit: "C", Thresholds: sensor.Thresholds{UpperCaution: sensor.At(80), UpperCritical: sensor.At(90)}},
		{Name: "VIn", Status: sensor.StatusUnavailable},
		{Name: "PSU2 input", Kind: sensor.KindVoltage, Unit: "V", Status: sensor.StatusUnavailable},
	}
	if diff := cmp.Diff(want, rs, ignoreTime); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	rs, err = b.Readings(ctxT(t, 5*time.Second))
	if err != nil || len(rs) != 3 || rs[1].Status != sensor.StatusOK {
		t.Fatalf("after the fault: %v %+v", err, rs)
	}
}

// Faults on every request: unreachable, malformed, oversized.
func TestReadingsFaults(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	cfg := testConfig(s, "")
	cfg.RequestTimeout = time.Second
	cfg.MaxBodyBytes = 64 << 10
	b := open(t, cfg)
	for _, tc := range []struct {
		name  string
		fault redfishsim.Fault
		want  error
		text  string
	}{
		{"503", redfishsim.Fault{Status: 503}, bmc.ErrUnreachable, "HTTP 503"},
		{"dropped", redfishsim.Fault{Drop: true}, bmc.ErrUnreachable, ""},
		{"slow", redfishsim.Fault{Latency: 3 * time.Second}, bmc.ErrUnreachable, "deadline"},
		{"malformed", redfishsim.Fault{Malformed: true}, bmc.ErrMalformed, ""},
		{"huge", redfishsim.Fault{Oversize: 1 << 20}, bmc.ErrMalformed, "MaxBodyBytes"},
		{"wrong types", redfishsim.Fault{Body: []byte(`{"Links":{"Chassis":"nope"}}`)}, bmc.ErrMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.ClearFaults()
			b.plan = nil
			s.Inject(tc.fault)
			defer s.ClearFaults()
			rs, err := b.Readings(ctxT(t, 5*time.Second))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.text)
			}
			if rs != nil {
				t.Errorf("readings %v with everything failing", rs)
			}
			if n := strings.Count(err.Error(), "failover:"); n != 1 {
				t.Errorf("sentinel wrapped %d times: %v", n, err)
			}
		})
	}
}

func TestLegacyThresholdsAndAbsent(t *testing.T) {
	body := []byte(`{"Temperatures":[
	 {"Name":"A","ReadingCelsius":40,"LowerThresholdCritical":5,"UpperThresholdNonCritical":70,"UpperThresholdCritical":80,"UpperThresholdFatal":90,"Status":{"State":"Enabled"}},
	 {"Name":"B","ReadingCelsius":0,"Status":{"State":"Absent"}},
	 {"Name":"C","ReadingCelsius":null,"Status":{"State":"Enabled"}},
	 {"Name":"D","ReadingCelsius":"hot"},
	 {"Name":"E","ReadingCelsius":5000}],
	 "Voltages":[{"Name":"12V","ReadingVolts":11.9,"LowerThresholdNonCritical":11.4,"LowerThresholdFatal":10}],
	 "Fans":[{"FanName":"F1","Reading":30,"ReadingUnits":"Percent"}],
	 "PowerSupplies":[{"Name":"PSU1","Status":{"State":"Absent"}}]}`)
	rs, errs := decodeLegacy(body, time.Time{}, nil)
	want := []sensor.Reading{
		{Name: "A", Kind: sensor.KindTemperature, Value: 40, Unit: "C", Thresholds: sensor.Thresholds{LowerCritical: sensor.At(5), UpperCaution: sensor.At(70), UpperCritical: sensor.At(80), UpperFatal: sensor.At(90)}},
		{Name: "B", Kind: sensor.KindTemperature, Unit: "C", Status: sensor.StatusUnavailable},
		{Name: "C", Kind: sensor.KindTemperature, Unit: "C", Status: sensor.StatusUnavailable},
		{Name: "E", Kind: sensor.KindTemperature, Unit: "C", Status: sensor.StatusUnavailable},
		{Name: "F1", Kind: sensor.KindFan, Value: 30, Unit: "%"},
		{Name: "12V", Kind: sensor.KindVoltage, Value: 11.9, Unit: "V", Thresholds: sensor.Thresholds{LowerFatal: sensor.At(10), LowerCaution: sensor.At(11.4)}},
		{Name: "PSU1 input voltage", Kind: sensor.KindVoltage, Unit: "V", Status: sensor.StatusUnavailable},
		{Name: "PSU1 output power", Kind: sensor.KindPower, Unit: "W", Status: sensor.StatusUnavailable},
	}
	if diff := cmp.Diff(want, rs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var texts []string
	for _, e := range errs {
		if !errors.Is(e, bmc.ErrMalformed) {
			t.Errorf("error %v does not wrap ErrMalformed", e)
		}
		texts = append(texts, e.Error())
	}
	if len(errs) != 2 || !strings.Contains(texts[0], "Temperatures[3]") || !slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, "5000") }) {
		t.Errorf("errors %q: want the wrong type of D and the absurd 5000 C of E", texts)
	}
}
