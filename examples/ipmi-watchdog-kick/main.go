// Command ipmi-watchdog-kick keeps a server's own BMC watchdog alive from
// inside the server, through the local IPMI system interface (/dev/ipmi0),
// so that the watching peer sees the watchdog expire when this server
// hangs: the patent's "watchdog updater" in-band.
//
//	sudo modprobe ipmi_devintf ipmi_si      # once, on the server
//	sudo go run ./examples/ipmi-watchdog-kick -timeout 30s -interval 10s -action power-down
//
// It arms the SMS/OS watchdog with -timeout and -action, kicks it every
// -interval, and on SIGINT/SIGTERM disarms it (unless -no-disarm) so that
// a clean shutdown is not taken for a hang. If this process (or the whole
// OS) hangs, the kicks stop, the BMC carries out -action when the timer
// runs out, and the peer watching this server through its BMC (ipmibmc
// over the network) reads the expiry and takes its VMs over.
//
// Do not run it next to another watchdog daemon (Linux ipmi_watchdog
// module, systemd's RuntimeWatchdogSec on the IPMI watchdog, watchdogd):
// they would fight over the same timer.
//
// With -lan HOST:PORT it kicks over the network instead (for trying it
// against ipmi_sim); the password then comes from BMC_PASSWORD.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rackha/failover/bmc/ipmibmc"
	"github.com/rackha/failover/watchdog"
)

func main() {
	timeout := flag.Duration("timeout", 30*time.Second, "watchdog timeout armed on the BMC")
	interval := flag.Duration("interval", 10*time.Second, "time between kicks (shorter than -timeout)")
	action := flag.String("action", "power-down", "expiry action: none, hard-reset, power-down, power-cycle")
	noDisarm := flag.Bool("no-disarm", false, "leave the watchdog armed on exit (a stop then reads as a hang)")
	lan := flag.String("lan", "", "kick over the network (HOST:PORT) instead of /dev/ipmi0")
	user := flag.String("user", "", "BMC user, with -lan")
	cipher := flag.Int("cipher", 17, "RMCP+ cipher suite, with -lan: 17 or 3")
	pretimeout := flag.Bool("ipmi-sim-pretimeout", false, "set a pre-timeout interrupt (needed by OpenIPMI's ipmi_sim for kicks to count)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *timeout, *interval, *action, !*noDisarm, *lan, *user, *cipher, *pretimeout); err != nil {
		fmt.Fprintln(os.Stderr, "ipmi-watchdog-kick:", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, timeout, interval time.Duration, action string, disarm bool, lan, user string, cipher int, pretimeout bool) error {
	act, err := parseAction(action)
	if err != nil {
		return err
	}
	cfg := ipmibmc.DefaultInbandConfig()
	if lan != "" {
		host, p, err := net.SplitHostPort(lan)
		if err != nil {
			return fmt.Errorf("-lan %q: %w", lan, err)
		}
		cfg = ipmibmc.DefaultConfig(host, user, os.Getenv("BMC_PASSWORD"))
		if cfg.Port, err = strconv.Atoi(p); err != nil {
			return fmt.Errorf("-lan %q: port: %w", lan, err)
		}
		cfg.CipherSuite = cipher
	}
	cfg.WatchdogPretimeout = pretimeout
	cfg.Logger = log
	b, err := ipmibmc.New(cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	ucfg := watchdog.DefaultUpdaterConfig()
	ucfg.Timeout, ucfg.Interval, ucfg.Action, ucfg.Disarm, ucfg.Logger = timeout, interval, act, disarm, log
	ucfg.CallTimeout = min(5*time.Second, interval/2)
	up, err := watchdog.NewUpdater(b, ucfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("kicking the BMC watchdog", "bmc", b.String(), "timeout", timeout, "interval", interval, "action", act)
	return up.Run(ctx)
}

func parseAction(s string) (watchdog.Action, error) {
	for a := watchdog.ActionNone; a <= watchdog.ActionPowerCycle; a++ {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("-action %q: want none, hard-reset, power-down or power-cycle", s)
}
