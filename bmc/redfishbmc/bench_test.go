package redfishbmc

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/rack"
)

// One full poll of public-tower's 35 sensors (collection + 35 GETs over
// TLS on loopback, 4 at a time).
func BenchmarkReadingsTower(b *testing.B) {
	s := startSim(b, mockup(b, "public-tower"), redfishsim.Options{})
	a := open(b, testConfig(s, ""))
	ctx := context.Background()
	if _, err := a.Readings(ctx); err != nil { // builds the plan
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Readings(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// A blade of public-bladed: Thermal of the blade plus the enclosure's
// Thermal and Power.
func BenchmarkReadingsBlade(b *testing.B) {
	s := startSim(b, mockup(b, "public-bladed"), redfishsim.Options{})
	a := open(b, testConfig(s, bladeSys))
	ctx := context.Background()
	if _, err := a.Readings(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.Readings(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// From an event injected into the SSE stream to the new status at the
// consumer: the state changes, the event is published, the consumer
// receives it and reads Health. ns/op is that latency.
func BenchmarkEventToStatus(b *testing.B) {
	s := startSim(b, "testdata/mini", redfishsim.Options{})
	a := open(b, testConfig(s, ""))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := a.Events(ctx)
	if err != nil {
		b.Fatal(err)
	}
	waitStreams(b, s, 1)
	states := []string{"Off", "On"}
	want := []bmc.PowerState{bmc.PowerOff, bmc.PowerOn}
	i := 0
	for b.Loop() {
		_ = s.Set("/redfish/v1/Systems/1", map[string]any{"PowerState": states[i%2]})
		s.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/1", Message: "power", Severity: "Critical"})
		if _, ok := <-ch; !ok {
			b.Fatal("event channel closed")
		}
		h, err := a.Health(ctx)
		if err != nil || h.Power != want[i%2] {
			b.Fatalf("Health %v %v", h.Power, err)
		}
		i++
	}
}

// The same change found by polling Health every rack.DefaultLocalConfig
// Interval (1 s), the change landing at a random moment: ns/op is the
// detection latency. Run with -benchtime=Nx: each op takes about 1 s.
func BenchmarkPollingToStatus(b *testing.B) {
	s := startSim(b, "testdata/mini", redfishsim.Options{NoSSE: true})
	a := open(b, testConfig(s, ""))
	interval := rack.DefaultLocalConfig().Interval
	ctx := context.Background()
	states := []string{"Off", "On"}
	want := []bmc.PowerState{bmc.PowerOff, bmc.PowerOn}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var total time.Duration
	i := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		time.Sleep(time.Duration(rand.Int64N(int64(interval)))) // the change lands anywhere in the cycle
		b.StartTimer()
		changed := time.Now()
		_ = s.Set("/redfish/v1/Systems/1", map[string]any{"PowerState": states[i%2]})
		for {
			<-tick.C
			h, err := a.Health(ctx)
			if err == nil && h.Power == want[i%2] {
				break
			}
		}
		total += time.Since(changed)
		i++
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(i), "ms-detect/op")
}
