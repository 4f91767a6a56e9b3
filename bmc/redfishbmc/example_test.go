package redfishbmc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

// Open an adapter on one system, read its sensors, health and power, and
// fence it.
func Example() {
	sim, err := redfishsim.New("testdata/mini", redfishsim.Options{Username: "admin", Password: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer sim.Close()
	sum := sha256.Sum256(sim.CertDER())

	cfg := redfishbmc.DefaultConfig()
	cfg.Endpoint = sim.URL
	cfg.Username, cfg.Password = "admin", "secret"
	cfg.PinnedCertSHA256 = hex.EncodeToString(sum[:]) // the BMC's self-signed certificate
	ctx := context.Background()
	b, err := redfishbmc.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	rs, err := b.Readings(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rs {
		fmt.Printf("%s: %v %s (%v)\n", r.Name, r.Value, r.Unit, r.Status)
	}
	if err := b.SetPower(ctx, bmc.PowerActionOff); err != nil {
		log.Fatal(err)
	}
	h, _ := b.Health(ctx)
	fmt.Println("power:", h.Power, "failed:", h.Failed())
	// Output:
	// CPU temperature: 45 C (ok)
	// 12V input: 12.1 V (ok)
	// PSU2 input: 0 V (unavailable)
	// power: off failed: true
}

// React to the BMC's events at once instead of waiting for the next poll.
func ExampleBMC_Events() {
	sim, err := redfishsim.New("testdata/mini", redfishsim.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer sim.Close()
	cfg := redfishbmc.DefaultConfig()
	cfg.Endpoint = sim.URL
	sum := sha256.Sum256(sim.CertDER())
	cfg.PinnedCertSHA256 = hex.EncodeToString(sum[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := redfishbmc.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	events, err := b.Events(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for sim.Streams() == 0 { // wait until subscribed (test servers only)
		time.Sleep(time.Millisecond)
	}
	_ = sim.Set("/redfish/v1/Systems/1", map[string]any{"Status": map[string]any{"Health": "Critical"}})
	sim.Publish(redfishsim.Event{Origin: "/redfish/v1/Systems/1", Message: "CPU failed", Severity: "Critical"})

	ev := <-events
	h, _ := b.Health(ctx) // the immediate status read
	fmt.Println(ev.Severity, ev.Message, "->", h.Detail)
	// Output:
	// critical CPU failed -> Status.Health Critical
}
