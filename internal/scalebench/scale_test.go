package scalebench

import (
	"flag"
	"os"
	"testing"
)

var (
	scale    = flag.Bool("scale", false, "run the full-size benchmark (1,000 BMCs across 4 rack managers; docs/scale.md)")
	scaleOut = flag.String("scale-out", "", "with -scale: also write the report to this file")
	perRack  = flag.Int("scale-servers", 0, "with -scale: BMCs per rack manager instead of 250 (a smaller trial run)")
)

// TestScaleSmall runs the whole benchmark at CI size (40 BMCs across 2
// racks, each with 2 rack-manager replicas; 2 servers losing main power,
// then 2 losing their BMC too) and asserts, through Run, that every VM of
// the failed servers runs again, once, on another server (by lease not
// before the bound), that none ran twice, and that nothing else moved.
func TestScaleSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts etcd and two rack-manager processes")
	}
	res, err := Run(t, SmallConfig())
	if res != nil {
		t.Logf("\n%s", res.Report())
	}
	if err != nil {
		t.Fatal(err)
	}
	c := SmallConfig()
	if got, want := len(res.FaultToRunning), c.Failing*c.VMsPerServer; got != want {
		t.Fatalf("%d VMs timed, want %d", got, want)
	}
	if got, want := len(res.LeaseFaultToRunning), c.LeaseLoss*c.VMsPerServer; got != want {
		t.Fatalf("%d VMs timed after the total power loss, want %d", got, want)
	}
	if res.Steady.RackManagersCPU() <= 0 {
		t.Errorf("rack managers used no CPU in %v: the /proc reading is wrong", res.Steady.Duration)
	}
	if res.Steady.Statuses == 0 {
		t.Errorf("no status reached a monitor in the steady window")
	}
	if res.Takeover.EtcdRequests.total() == 0 {
		t.Errorf("the takeover made no etcd request: the store is not in etcd, or the metrics are misread")
	}
}

// TestScale is the full-size benchmark; it runs only with -scale.
func TestScale(t *testing.T) {
	if !*scale {
		t.Skip("full size (1,000 BMCs, minutes of both cores): run with -scale, see docs/scale.md")
	}
	c := DefaultConfig()
	if *perRack > 0 {
		c.ServersPerRack = *perRack
	}
	res, err := Run(t, c)
	if res != nil {
		t.Logf("\n%s", res.Report())
		if *scaleOut != "" {
			if werr := os.WriteFile(*scaleOut, []byte(res.Report()), 0o644); werr != nil {
				t.Error(werr)
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}
