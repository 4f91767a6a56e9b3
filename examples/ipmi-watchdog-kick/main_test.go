package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/ipmibmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/watchdog"
)

// TestKickOverLAN runs the command's loop against ipmi_sim over the
// network (there is no /dev/ipmi0 here): while it runs the watchdog does
// not expire; after it is stopped without disarming, it does.
func TestKickOverLAN(t *testing.T) {
	if err := ipmisim.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
	s, err := ipmisim.Start(ipmisim.Config{Dir: t.TempDir(), PoweredOn: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	t.Setenv("BMC_PASSWORD", s.Password())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// An observer reads the watchdog the way the watching peer would.
	host, port, _ := strings.Cut(s.Addr(), ":")
	ocfg := ipmibmc.DefaultConfig(host, s.User(), s.Password())
	ocfg.Port, _ = strconv.Atoi(port)
	ocfg.CipherSuite = 3
	obs, err := ipmibmc.New(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()

	done := make(chan error, 1)
	go func() {
		// run returns on SIGINT; here the process signals itself.
		done <- run(quiet, 3*time.Second, time.Second, "power-down", false, s.Addr(), s.User(), 3, true)
	}()
	time.Sleep(5 * time.Second)
	st, err := obs.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Expired || st.Action != watchdog.ActionPowerDown || st.Timeout != 3*time.Second {
		t.Fatalf("while kicking: %+v", st)
	}
	p, _ := os.FindProcess(os.Getpid())
	if err := p.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(6 * time.Second)
	for !st.Expired {
		if time.Now().After(deadline) {
			t.Fatalf("not expired 6 s after the kicks stopped: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
		if st, err = obs.State(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseAction(t *testing.T) {
	if a, err := parseAction("power-cycle"); err != nil || a != watchdog.ActionPowerCycle {
		t.Errorf("power-cycle: %v %v", a, err)
	}
	if _, err := parseAction("reboot"); err == nil {
		t.Error("reboot accepted")
	}
}
