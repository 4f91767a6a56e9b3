package demosim_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/clock"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/internal/demosim"
	"github.com/rackha/failover/watchdog"
)

func TestNewHostCouplesPowerAndVMs(t *testing.T) {
	clk := clock.NewManual(epoch)
	bcfg := simbmc.DefaultConfig("blade-a")
	bcfg.Clock = clk
	var told []bmc.PowerState
	bcfg.OnPower = func(p bmc.PowerState) { told = append(told, p) }
	st := memhv.NewStorage()
	hcfg := memhv.DefaultConfig("blade-a")
	hcfg.Storage = st
	b, hv, err := demosim.NewHost(bcfg, hcfg)
	if err != nil {
		t.Fatal(err)
	}
	path := serve(t, map[string]*simbmc.BMC{"blade-a": b}, map[string]*memhv.Hypervisor{"blade-a": hv})
	c, h := bmcClient(t, path, "blade-a"), hvClient(t, path, "blade-a")

	if err := h.Start(ctx(t), image("vm1")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPower(ctx(t), bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	if _, err := h.List(ctx(t)); !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Fatalf("List of a fenced host: %v, want ErrUnreachable", err)
	}
	if got := st.Running("vm1"); len(got) != 0 {
		t.Fatalf("vm1 runs on %v after its host was fenced", got)
	}
	if err := c.SetPower(ctx(t), bmc.PowerActionOn); err != nil {
		t.Fatal(err)
	}
	if vms, err := h.List(ctx(t)); err != nil || len(vms) != 0 {
		t.Fatalf("List after power on: %v, %v; want reachable and empty", vms, err)
	}

	// A watchdog expiry powers the host down, VMs and all.
	if err := h.Start(ctx(t), image("vm2")); err != nil {
		t.Fatal(err)
	}
	if err := c.Arm(ctx(t), 5*time.Second, watchdog.ActionPowerDown); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	b.Sync()
	if got := st.Running("vm2"); len(got) != 0 {
		t.Fatalf("vm2 runs on %v after the watchdog powered its host down", got)
	}
	want := []bmc.PowerState{bmc.PowerOff, bmc.PowerOn, bmc.PowerOff}
	if len(told) != len(want) || told[0] != want[0] || told[1] != want[1] || told[2] != want[2] {
		t.Fatalf("the config's own OnPower was told %v, want %v", told, want)
	}
}

func TestNewHostRefusesBadConfig(t *testing.T) {
	st := memhv.NewStorage()
	hcfg := memhv.DefaultConfig("blade-a")
	hcfg.Storage = st
	if _, _, err := demosim.NewHost(simbmc.DefaultConfig("blade-b"), hcfg); !errors.Is(err, demosim.ErrInvalidArgument) {
		t.Fatalf("NewHost with two names: %v, want ErrInvalidArgument", err)
	}
	bad := simbmc.DefaultConfig("blade-a")
	bad.Readings = append(bad.Readings, bad.Readings[0])
	if _, _, err := demosim.NewHost(bad, hcfg); !errors.Is(err, simbmc.ErrInvalidConfig) {
		t.Fatalf("NewHost with a duplicate sensor: %v, want simbmc.ErrInvalidConfig", err)
	}
	// The refused host did not take its name on the storage.
	if _, _, err := demosim.NewHost(simbmc.DefaultConfig("blade-a"), hcfg); err != nil {
		t.Fatalf("NewHost after refused configs: %v", err)
	}
}
