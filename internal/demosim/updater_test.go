package demosim_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/internal/demosim"
	"github.com/rackha/failover/watchdog"
)

// A monitor kicks its own watchdog in-band with watchdog.Updater through
// the socket, while the BMC's network is down; once it stops, the
// watchdog powers the host down and its VMs with it.
func TestUpdaterKicksInBand(t *testing.T) {
	st := memhv.NewStorage()
	hcfg := memhv.DefaultConfig("blade-a")
	hcfg.Storage = st
	b, hv, err := demosim.NewHost(simbmc.DefaultConfig("blade-a"), hcfg) // real time
	if err != nil {
		t.Fatal(err)
	}
	path := serve(t, map[string]*simbmc.BMC{"blade-a": b}, map[string]*memhv.Hypervisor{"blade-a": hv})
	if err := hvClient(t, path, "blade-a").Start(ctx(t), image("vm1")); err != nil {
		t.Fatal(err)
	}
	b.SetUnreachable(true) // the management LAN is down; in-band still works
	u, err := watchdog.NewUpdater(inBandClient(t, path, "blade-a"), watchdog.UpdaterConfig{
		Timeout: 500 * time.Millisecond, Interval: 100 * time.Millisecond, CallTimeout: 100 * time.Millisecond,
		Action: watchdog.ActionPowerDown, Disarm: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- u.Run(c) }()
	time.Sleep(time.Second) // two timeouts
	if p := b.HostPower(); p != bmc.PowerOn {
		t.Fatalf("host %v while the updater kicks in-band", p)
	}
	s, err := b.InBand().State(context.Background())
	if err != nil || !s.Running || s.Expired {
		t.Fatalf("watchdog while kicked: %+v, %v", s, err)
	}
	stop() // the monitor stops; the in-band watchdog has no Disarm
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for b.HostPower() != bmc.PowerOff && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := b.HostPower(); p != bmc.PowerOff {
		t.Fatalf("host %v 3 s after the kicks stopped, want off (watchdog expired)", p)
	}
	if got := st.Running("vm1"); len(got) != 0 {
		t.Fatalf("vm1 runs on %v after the watchdog powered its host down", got)
	}
}
