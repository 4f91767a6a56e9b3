package simbmc_test

import (
	"context"
	"errors"
	"github.com/rackha/failover/clock"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/watchdog"
	"github.com/rackha/failover/watchdog/watchdogtest"
)

func TestInBandWatchdogConformance(t *testing.T) {
	watchdogtest.Run(t, watchdogtest.Harness{
		Open: func(t *testing.T) watchdogtest.Fixture {
			clk := clock.NewManual(epoch)
			cfg := simbmc.DefaultConfig("blade-a")
			cfg.Clock = clk
			return watchdogtest.Fixture{Watchdog: newBMC(t, cfg).InBand(), Advance: clk.Advance}
		},
		Unreachable: func(t *testing.T) watchdog.Watchdog {
			b := newBMC(t, simbmc.DefaultConfig("closed"))
			b.Close()
			return b.InBand()
		},
		MinTimeout: 100 * time.Millisecond,
		Action:     watchdog.ActionPowerDown,
	})
}

// The server reaches its own watchdog while the LAN path is down, and the
// peer sees the result once the BMC answers again.
func TestInBandWorksWhileUnreachable(t *testing.T) {
	b, clk, calls := manual(t)
	ctx := context.Background()
	b.SetUnreachable(true)
	w := b.InBand()
	if err := w.Arm(ctx, time.Second, watchdog.ActionPowerDown); err != nil {
		t.Fatalf("in-band Arm while the LAN is down: %v", err)
	}
	clk.Advance(900 * time.Millisecond)
	if err := w.Kick(ctx); err != nil {
		t.Fatalf("in-band Kick while the LAN is down: %v", err)
	}
	if _, err := b.State(ctx); !errors.Is(err, bmc.ErrUnreachable) {
		t.Fatalf("LAN State while unreachable: %v", err)
	}
	clk.Advance(time.Second)
	if s, err := w.State(ctx); err != nil || !s.Expired {
		t.Fatalf("in-band State after the timeout: %+v, %v", s, err)
	}
	if len(*calls) != 1 {
		t.Fatalf("OnPower calls %v, want one off", *calls)
	}
	b.SetUnreachable(false)
	if s, err := b.State(ctx); err != nil || !s.Expired {
		t.Fatalf("LAN State once reachable: %+v, %v", s, err)
	}
}
