package rack_test

import (
	"context"
	"github.com/rackha/failover/clock"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// simRack is a rack of simbmc servers on one manual clock, read in order
// (Parallel 1) unless edit says otherwise.
type simRack struct {
	l     *rack.Local
	clock *clock.Manual
	bmc   map[string]*simbmc.BMC
}

func newSimRack(t testing.TB, topo rack.Topology, edit func(*rack.LocalConfig)) *simRack {
	t.Helper()
	r := &simRack{clock: clock.NewManual(epoch), bmc: map[string]*simbmc.BMC{}}
	cfg := rack.LocalConfig{Topology: topo, Parallel: 1, Now: r.clock.Now}
	for _, name := range topo.Servers() {
		bcfg := simbmc.DefaultConfig(name)
		bcfg.Clock = r.clock
		b, err := simbmc.New(bcfg)
		if err != nil {
			t.Fatal(err)
		}
		r.bmc[name] = b
		cfg.Servers = append(cfg.Servers, rack.Server{Name: name, Sensors: b, Health: b, Watchdog: b, Power: b})
	}
	if edit != nil {
		edit(&cfg)
	}
	var err error
	if r.l, err = rack.NewLocal(cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

// byServer returns each status of sts by its server's name.
func byServer(sts []rack.Status) map[string]rack.Status {
	m := map[string]rack.Status{}
	for _, st := range sts {
		m[st.Server] = st
	}
	return m
}

// drain returns what ch holds now, without waiting.
func drain(ch <-chan rack.Status) []rack.Status {
	var out []rack.Status
	for len(ch) > 0 {
		out = append(out, <-ch)
	}
	return out
}

// servers names the servers of sts, in order.
func servers(sts []rack.Status) []string {
	var out []string
	for _, st := range sts {
		out = append(out, st.Server)
	}
	return out
}

// countingBMC counts which roles of a simbmc were read.
type countingBMC struct {
	*simbmc.BMC
	health, readings, wd, power atomic.Int32
}

func (c *countingBMC) Health(ctx context.Context) (bmc.Health, error) {
	c.health.Add(1)
	return c.BMC.Health(ctx)
}

func (c *countingBMC) Readings(ctx context.Context) ([]sensor.Reading, error) {
	c.readings.Add(1)
	return c.BMC.Readings(ctx)
}

func (c *countingBMC) State(ctx context.Context) (watchdog.State, error) {
	c.wd.Add(1)
	return c.BMC.State(ctx)
}

func (c *countingBMC) PowerState(ctx context.Context) (bmc.PowerState, error) {
	c.power.Add(1)
	return c.BMC.PowerState(ctx)
}
