package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/rackha/failover/bmc/redfishbmc"
	"github.com/rackha/failover/watchdog"
)

// Redfish backend flags.
var (
	redfishURL      = flag.String("redfish", "", "Redfish service, https://HOST[:PORT]")
	redfishCA       = flag.String("cacert", "", "Redfish: PEM file of the CA(s) to trust instead of the system roots")
	redfishPin      = flag.String("pin", "", "Redfish: hex SHA-256 of the BMC's certificate to accept (self-signed BMCs)")
	redfishInsecure = flag.Bool("insecure", false, "Redfish: do not verify the TLS certificate (lab use only)")
	redfishSystem   = flag.String("system", "", "Redfish: ComputerSystem Id; empty lists every system of an enclosure")
	redfishBasic    = flag.Bool("basic", false, "Redfish: HTTP basic auth instead of a session")
)

func init() {
	register(backend{
		name:    "redfish",
		enabled: func() bool { return *redfishURL != "" },
		open:    openRedfish,
	})
}

func redfishConfig() redfishbmc.Config {
	cfg := redfishbmc.DefaultConfig()
	cfg.Endpoint = *redfishURL
	cfg.Username, cfg.Password = *user, password()
	cfg.CAFile, cfg.PinnedCertSHA256, cfg.InsecureSkipVerify = *redfishCA, *redfishPin, *redfishInsecure
	cfg.BasicAuth = *redfishBasic
	return cfg
}

// openRedfish opens the -system given, or every system of the service
// (sharing one session). The watchdog role is the system's
// HostWatchdogTimer, read-only; a system without one answers
// bmc.ErrNotOffered, shown as not offered.
func openRedfish(ctx context.Context) ([]target, error) {
	cfg := redfishConfig()
	if err := cfg.Validate(); err != nil {
		return nil, usageError{fmt.Errorf("-redfish %q: %w", cfg.Endpoint, err)}
	}
	ids := []string{*redfishSystem}
	if *redfishSystem == "" {
		systems, err := redfishbmc.ListSystems(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("-redfish %s: %w", cfg.Endpoint, err)
		}
		ids = ids[:0]
		for _, s := range systems {
			ids = append(ids, s.ID)
		}
	}
	var out []target
	var first *redfishbmc.BMC
	for _, id := range ids {
		var b *redfishbmc.BMC
		var err error
		if first == nil {
			c := cfg
			c.System = id
			b, err = redfishbmc.Open(ctx, c)
			first = b
		} else {
			b, err = first.OpenSystem(ctx, id)
		}
		if err != nil {
			for _, t := range out {
				_ = t.close()
			}
			return nil, fmt.Errorf("-redfish %s system %q: %w", cfg.Endpoint, id, err)
		}
		t := target{name: fmt.Sprintf("redfish %s system %s", cfg.Endpoint, b.System().ID),
			sensors: b, health: b, power: b, close: b.Close}
		if w, ok := any(b).(watchdog.Watchdog); ok {
			t.watchdog = w
		}
		out = append(out, t)
	}
	return out, nil
}
