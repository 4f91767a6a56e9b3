package failover

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEventJSONRoundTrip(t *testing.T) {
	ev := Event{Time: time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC), Type: EventDetected, Server: "b1", Peer: "b2",
		Cause: CauseTemperature, Sensor: "CPU0 Temp", Value: 97, Unit: "C", Threshold: 95, Since: 1500 * time.Millisecond, Message: "m"}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-01-01T00:00:03Z","type":"detected","server":"b1","peer":"b2","cause":"temperature","sensor":"CPU0 Temp","value":97,"unit":"C","threshold":95,"since_ms":1500,"message":"m"}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ev, back); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if err := json.Unmarshal([]byte(`{"type":`), &back); err == nil {
		t.Error("broken JSON accepted")
	}
}
