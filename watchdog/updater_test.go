package watchdog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/watchdog"
)

func TestUpdaterKeepsTheWatchdogAliveAndDisarmsOnStop(t *testing.T) {
	b, err := simbmc.New(simbmc.DefaultConfig("b1"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := watchdog.DefaultUpdaterConfig()
	cfg.Timeout, cfg.Interval, cfg.CallTimeout = 300*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	u, err := watchdog.NewUpdater(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Run(ctx) }()
	time.Sleep(900 * time.Millisecond) // three timeouts
	st, err := b.State(context.Background())
	if err != nil || st.Expired || !st.Running {
		t.Fatalf("state while kicked: %+v, %v; want running, not expired", st, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := b.Kick(context.Background()); !errors.Is(err, watchdog.ErrNotArmed) {
		t.Errorf("Kick after a clean stop = %v, want ErrNotArmed (disarmed)", err)
	}
}

func TestUpdaterReportsArmFailure(t *testing.T) {
	b, _ := simbmc.New(simbmc.DefaultConfig("b1"))
	b.SetUnreachable(true)
	cfg := watchdog.DefaultUpdaterConfig()
	cfg.CallTimeout = 50 * time.Millisecond
	u, err := watchdog.NewUpdater(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "arm") {
		t.Errorf("Run on an unreachable BMC = %v, want an arm error", err)
	}
}

func TestUpdaterConfigValidateNamesTheField(t *testing.T) {
	cfg := watchdog.DefaultUpdaterConfig()
	cfg.Interval = cfg.Timeout
	_, err := watchdog.NewUpdater(nil, cfg)
	if err == nil {
		t.Fatal("nil watchdog accepted")
	}
	b, _ := simbmc.New(simbmc.DefaultConfig("b1"))
	if _, err := watchdog.NewUpdater(b, cfg); !errors.Is(err, watchdog.ErrInvalidTimeout) || !strings.Contains(err.Error(), "UpdaterConfig.Interval") {
		t.Errorf("NewUpdater = %v, want an error naming UpdaterConfig.Interval", err)
	}
	if err := watchdog.DefaultUpdaterConfig().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}
