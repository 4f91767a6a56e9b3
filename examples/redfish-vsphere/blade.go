package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc/redfishbmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
	"github.com/rackha/failover/hypervisor/vspherehv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// blade is one server of the enclosure: a ComputerSystem of the Redfish
// mockup (its BMC), an ESXi host of the simulated vCenter (its
// hypervisor), and its "OS": the failover monitor, which runs only while
// the BMC says the power is on.
type blade struct {
	name    string // rack name
	sys     string // Redfish ComputerSystem id
	chassis string // Redfish Chassis id
	esx     string // ESXi host in vCenter
	bmc     *redfishbmc.BMC
	hv      *vspherehv.Hypervisor

	newMonitor func() (*failover.Monitor, error) // set once the rack exists

	mu     sync.Mutex
	stopOS context.CancelFunc
	osDone sync.WaitGroup
	on     bool
}

func (b *blade) sysPath() string { return "/redfish/v1/Systems/" + b.sys }

// open connects the blade's BMC (pinned to the Redfish simulator's
// certificate) and its hypervisor (trusting the vCenter simulator's).
func (b *blade) open(ctx context.Context, rf *redfishsim.Server, vc *vcenter) error {
	cfg := redfishbmc.DefaultConfig()
	sum := sha256.Sum256(rf.CertDER())
	cfg.Endpoint, cfg.Username, cfg.Password, cfg.System = rf.URL, rfUser, rfPass, b.sys
	cfg.PinnedCertSHA256 = hex.EncodeToString(sum[:])
	cfg.PowerPollInterval, cfg.RequestTimeout, cfg.Logger = 50*time.Millisecond, 2*time.Second, quiet
	var err error
	if b.bmc, err = redfishbmc.Open(ctx, cfg); err != nil {
		return fmt.Errorf("blade %s BMC: %w", b.name, err)
	}
	hcfg := vspherehv.DefaultConfig(vc.url, b.esx)
	hcfg.Username, hcfg.Password, hcfg.RootCAs, hcfg.Server = vcUser, vcPass, vc.roots, b.name
	hcfg.Datastores = []string{vcDS} // images may name only the shared datastore
	hcfg.ShutdownTimeout, hcfg.PollInterval = 2*time.Second, 50*time.Millisecond
	hcfg.StaleHostWait = 30 * time.Second // vCenter's view of a fenced host lags the BMC's
	hcfg.Logger = quiet
	if b.hv, err = vspherehv.New(ctx, hcfg); err != nil {
		return fmt.Errorf("blade %s hypervisor: %w", b.name, err)
	}
	return nil
}

// boot starts the blade's monitor.
func (b *blade) boot(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopOS != nil {
		return nil
	}
	mon, err := b.newMonitor()
	if err != nil {
		return err
	}
	osCtx, cancel := context.WithCancel(ctx)
	b.stopOS = cancel
	b.osDone.Add(1)
	go func() { defer b.osDone.Done(); _ = mon.Run(osCtx) }() // Run fails only if the rack refuses the watch
	return nil
}

// halt stops the blade's monitor, as losing power would.
func (b *blade) halt() {
	b.mu.Lock()
	stop := b.stopOS
	b.stopOS = nil
	b.mu.Unlock()
	if stop != nil {
		stop()
		b.osDone.Wait()
	}
}

// followPower links the blade to its ComputerSystem's PowerState: when the
// power goes (fence, restart) the monitor stops and vCenter sees the host
// not responding, with its VMs as it last saw them; when it comes back the
// host reconnects and the monitor boots.
func (b *blade) followPower(ctx context.Context, rf *redfishsim.Server, vc *vcenter, onErr func(error)) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sys, _ := rf.Get(b.sysPath())
		on := sys["PowerState"] == "On"
		b.mu.Lock()
		was := b.on
		b.on = on
		b.mu.Unlock()
		switch {
		case was && !on:
			b.halt()
			if err := vc.setHostUp(b.esx, false); err != nil {
				onErr(err)
			}
		case !was && on:
			if err := vc.setHostUp(b.esx, true); err != nil {
				onErr(err)
			}
			if err := b.boot(ctx); err != nil {
				onErr(err)
			}
		}
	}
}

func (b *blade) close() {
	b.halt()
	if b.hv != nil {
		_ = b.hv.Close()
	}
	if b.bmc != nil {
		_ = b.bmc.Close()
	}
}
