package redfishbmc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// Read the host watchdog, and tell a service that does not offer one
// from a failed read.
func ExampleBMC_State() {
	ctx := context.Background()
	for _, overlays := range [][]string{{"testdata/overlays/watchdog-mini"}, nil} {
		sim, err := redfishsim.New("testdata/mini", redfishsim.Options{Overlays: overlays})
		if err != nil {
			log.Fatal(err)
		}
		cfg := redfishbmc.DefaultConfig()
		cfg.Endpoint = sim.URL
		sum := sha256.Sum256(sim.CertDER())
		cfg.PinnedCertSHA256 = hex.EncodeToString(sum[:])
		b, err := redfishbmc.Open(ctx, cfg)
		if err != nil {
			log.Fatal(err)
		}
		st, err := b.State(ctx)
		switch {
		case errors.Is(err, bmc.ErrNotOffered):
			fmt.Println("watchdog: not offered")
		case err != nil:
			fmt.Println("watchdog: read failed:", err)
		default:
			fmt.Printf("watchdog: running=%v action=%v expired=%v\n", st.Running, st.Action, st.Expired)
		}
		b.Close()
		sim.Close()
	}
	// Output:
	// watchdog: running=true action=hard-reset expired=false
	// watchdog: not offered
}

// Several adapters on one session: on an enclosure, one per blade
// (OpenSystem with each blade's system Id); here the one system of a
// small service, opened twice, on a BMC that allows one session.
func ExampleBMC_OpenSystem() {
	sim, err := redfishsim.New("testdata/mini", redfishsim.Options{Username: "admin", Password: "secret", MaxSessions: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer sim.Close()
	cfg := redfishbmc.DefaultConfig()
	cfg.Endpoint = sim.URL
	cfg.Username, cfg.Password = "admin", "secret"
	sum := sha256.Sum256(sim.CertDER())
	cfg.PinnedCertSHA256 = hex.EncodeToString(sum[:])
	ctx := context.Background()
	first, err := redfishbmc.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	second, err := first.OpenSystem(ctx, "1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first.System().Path, second.System().Path, "sessions:", sim.Sessions())
	first.Close()
	fmt.Println("after the first Close, sessions:", sim.Sessions())
	second.Close()
	fmt.Println("after the last Close, sessions:", sim.Sessions())
	// Output:
	// /redfish/v1/Systems/1 /redfish/v1/Systems/1 sessions: 1
	// after the first Close, sessions: 1
	// after the last Close, sessions: 0
}
