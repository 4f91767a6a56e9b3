// Command bmcstat prints the status of one or more BMCs: sensor readings
// with their thresholds, blade health, power state and the watchdog timer,
// as a table or, with -json, as one JSON document.
//
//	go install github.com/rackha/failover/cmd/bmcstat@latest
//	bmcstat -ipmi 127.0.0.1:623 -user admin [-pass P] [-cipher 3] [-sdr-cache DIR | -no-sdr-cache]
//	bmcstat -redfish https://127.0.0.1:8443 -user admin [-pass P] [-cacert FILE | -pin SHA256 | -insecure] [-system ID]
//
// With -watch INTERVAL -json it polls every target each interval until
// SIGINT or SIGTERM and appends one telemetry line per target per poll
// (to stdout or -out FILE; the format is docs/telemetry.md):
//
//	bmcstat -ipmi 10.0.0.5 -user admin -watch 1s -json -server blade5 -out blade5.jsonl
//
// The password may also come from the environment variable BMC_PASSWORD,
// so that it need not appear in the process list.
//
// Exit status: 0 when every role the backend offers (readings, health,
// power, watchdog) was read and none reports a failure; 1 when a read
// failed or a BMC reports a failure (health failed: power off, a power
// fault, overload, interlock or a blade fault; the watchdog expired); 2
// for usage errors. A role the protocol or the BMC does not offer is
// shown as "not offered" and is not a failure.
//
// Protocol backends live in their own files and register themselves in
// init() with register: each adds its own flags, says whether it was asked
// for (enabled) and opens its targets (open). main.go holds only what all
// backends share: the common flags, the exit status and the printers.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/telemetry"
	"github.com/rackha/failover/watchdog"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// backend is one protocol (IPMI, Redfish, ...).
type backend struct {
	name string
	// enabled reports whether the user asked for this backend (its
	// address flag is set).
	enabled func() bool
	// open connects to every target the flags name. The caller closes
	// them. Flag mistakes are returned as usageError.
	open func(ctx context.Context) ([]target, error)
}

// usageError is a mistake in the command line (exit 2), not a BMC's.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// target is one BMC. A nil role is reported as "not offered".
type target struct {
	name     string
	sensors  sensor.Source
	health   bmc.HealthReader
	power    bmc.Power
	watchdog watchdog.Watchdog
	close    func() error
}

// fromBMC makes a target that serves every role from b.
func fromBMC(name string, b bmc.BMC) target {
	return target{name: name, sensors: b, health: b, power: b, watchdog: b, close: b.Close}
}

var backends []backend

// register adds a backend; call it from init().
func register(b backend) { backends = append(backends, b) }

// Common flags.
var (
	jsonOut = flag.Bool("json", false, "print JSON instead of a table")
	user    = flag.String("user", "", "BMC user name")
	pass    = flag.String("pass", "", "BMC password (default: the BMC_PASSWORD environment variable)")
	timeout = flag.Duration("timeout", 20*time.Second, "overall time limit (with -watch: of each poll, and of opening the BMCs)")
)

// password returns -pass, or BMC_PASSWORD when -pass is empty.
func password() string {
	if *pass != "" {
		return *pass
	}
	return os.Getenv("BMC_PASSWORD")
}

func init() { flag.Usage = usage }

// usage is the -h text: synopsis, exit status, flags.
func usage() {
	w := flag.CommandLine.Output()
	fmt.Fprint(w, `Usage: bmcstat -ipmi HOST[:PORT],... | -redfish https://HOST[:PORT] [flags]

Prints each BMC's sensor readings and thresholds, health, power state and
watchdog timer, as a table or with -json as JSON. The password may come
from the environment variable BMC_PASSWORD instead of -pass.

Exit status:
  0  every role the backend offers (readings, health, power, watchdog)
     was read and no BMC reports a failure; a role the protocol or the
     BMC does not offer is shown as "not offered" and is no failure
  1  a read failed (BMC unreachable, refused, malformed answer) or a BMC
     reports a failure: health failed (power off, power fault, main power
     fault, overload, interlock, a blade fault) or the watchdog expired
  2  usage error: unknown or bad flag, no BMC given, extra arguments
A reading past a threshold is shown in its LEVEL column; it does not
change the exit status (the failover engine judges readings itself).

Recording: -watch INTERVAL -json polls every target each interval until
SIGINT or SIGTERM (exit 0) and appends one telemetry line per target per
poll to stdout or -out FILE (format rackha-telemetry/1, docs/telemetry.md
in the source); a failed poll is a line with its failures. failoverd
replay reads the files.

Flags:
`)
	flag.PrintDefaults()
}

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bmcstat: unexpected argument %q (flags only)\n", flag.Arg(0))
		flag.Usage()
		os.Exit(exitUsage)
	}
	if err := checkWatchFlags(); err != nil {
		fmt.Fprintf(os.Stderr, "bmcstat: %v\n", err)
		os.Exit(exitUsage)
	}
	if *timeout <= 0 {
		fmt.Fprintf(os.Stderr, "bmcstat: -timeout %v must be positive\n", *timeout)
		os.Exit(exitUsage)
	}
	// SIGINT and SIGTERM end a -watch cleanly (and a one-shot run early).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cancel := context.CancelFunc(func() {})
	if *watch <= 0 {
		ctx, cancel = context.WithTimeout(ctx, *timeout)
	}
	code := run(ctx, os.Stdout, os.Stderr)
	cancel()
	stop()
	os.Exit(code)
}

// run opens every enabled backend, collects and prints each target's
// status, and returns the exit code (see usage).
func run(ctx context.Context, stdout, stderr io.Writer) int {
	var targets []target
	code := exitOK
	asked := false
	for _, b := range backends {
		if !b.enabled() {
			continue
		}
		asked = true
		octx, cancel := context.WithTimeout(ctx, *timeout)
		ts, err := b.open(octx)
		cancel()
		if ue := (usageError{}); errors.As(err, &ue) {
			for _, t := range targets {
				_ = t.close()
			}
			fmt.Fprintf(stderr, "bmcstat: %v\n", err)
			return exitUsage
		}
		if err != nil {
			fmt.Fprintf(stderr, "bmcstat: %s: %v\n", b.name, err)
			code = exitFailed
			continue
		}
		targets = append(targets, ts...)
	}
	if !asked {
		fmt.Fprintln(stderr, "bmcstat: no BMC given; use -ipmi or -redfish (-h for help)")
		return exitUsage
	}
	if *watch > 0 {
		if code != exitOK {
			// A target that did not open cannot be recorded poll by poll.
			for _, t := range targets {
				_ = t.close()
			}
			fmt.Fprintln(stderr, "bmcstat: -watch: not recording: a BMC could not be opened (above)")
			return code
		}
		return watchTargets(ctx, targets, stdout, stderr)
	}
	var all []status
	for _, t := range targets {
		s := collect(ctx, t)
		if !s.OK {
			code = exitFailed
		}
		all = append(all, s)
		if t.close != nil {
			if err := t.close(); err != nil {
				fmt.Fprintf(stderr, "bmcstat: %s: close: %v\n", t.name, err)
			}
		}
	}
	var err error
	if *jsonOut {
		err = printJSON(stdout, all)
	} else {
		err = printTable(stdout, all)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bmcstat: %v\n", err)
		return exitFailed
	}
	return code
}

// status is everything read from one target (one telemetry record
// without its time and server); each role has its own error.
type status = telemetry.Record

// offered reports whether role was read: not when it is nil or its read
// failed with bmc.ErrUnsupported or bmc.ErrNotOffered (recorded in
// NotOffered), nor when it failed otherwise (recorded in *errField and
// Failures).
func offered(s *status, role string, isNil bool, err error, errField *string) bool {
	switch {
	case isNil || errors.Is(err, bmc.ErrUnsupported) || errors.Is(err, bmc.ErrNotOffered):
		s.NotOffered = append(s.NotOffered, role)
		return false
	case err != nil:
		*errField = err.Error()
		s.Failures = append(s.Failures, role+" read failed")
		return false
	}
	return true
}

const notOffered = "not offered by this backend"

// collect reads every role of t; a failing role does not stop the others.
func collect(ctx context.Context, t target) status {
	s := status{Target: t.name, Readings: []telemetry.Reading{}}
	// Once the BMC did not answer, the other roles are not tried: each
	// would wait for the same timeout.
	var gone error
	answered := false
	try := func(read func() error) error {
		if gone != nil {
			return gone
		}
		err := read()
		if errors.Is(err, bmc.ErrUnreachable) {
			gone = err
		} else {
			answered = true
		}
		return err
	}
	var err error
	var rs []sensor.Reading
	if t.sensors != nil {
		err = try(func() (err error) { rs, err = t.sensors.Readings(ctx); return err })
	}
	if offered(&s, "readings", t.sensors == nil, err, &s.ReadingsErr) {
		for _, r := range rs {
			s.Readings = append(s.Readings, telemetry.FromReading(r))
		}
	}
	var h bmc.Health
	if t.health != nil {
		err = try(func() (err error) { h, err = t.health.Health(ctx); return err })
	}
	if offered(&s, "health", t.health == nil, err, &s.HealthErr) {
		s.Health = telemetry.FromHealth(h)
		if why := telemetry.HealthFailures(h); why != "" {
			s.Failures = append(s.Failures, "health failed: "+why)
		}
	}
	var p bmc.PowerState
	if t.power != nil {
		err = try(func() (err error) { p, err = t.power.PowerState(ctx); return err })
	}
	if offered(&s, "power", t.power == nil, err, &s.PowerErr) {
		s.Power = p.String()
		if p == bmc.PowerOff && s.Health == nil {
			s.Failures = append(s.Failures, "power off") // else reported with health
		}
	}
	var w watchdog.State
	if t.watchdog != nil {
		err = try(func() (err error) { w, err = t.watchdog.State(ctx); return err })
	}
	if offered(&s, "watchdog", t.watchdog == nil, err, &s.WatchdogErr) {
		s.Watchdog = &telemetry.Watchdog{Running: w.Running, Expired: w.Expired, Timeout: w.Timeout.Seconds(),
			Remaining: w.Remaining.Seconds(), Action: w.Action.String()}
		if w.Expired {
			s.Failures = append(s.Failures, "watchdog expired")
		}
	}
	if gone != nil && !answered {
		s.Unreachable, s.Error = true, gone.Error()
	}
	s.OK = len(s.Failures) == 0
	return s
}

func printJSON(w io.Writer, all []status) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if all == nil {
		all = []status{}
	}
	return enc.Encode(all)
}

func printTable(w io.Writer, all []status) error {
	var errs []error
	for i, s := range all {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "== %s\n", s.Target)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if len(s.Readings) > 0 {
			fmt.Fprintln(tw, "SENSOR\tKIND\tVALUE\tUNIT\tSTATUS\tLEVEL\tLNR\tLCR\tLNC\tUNC\tUCR\tUNR")
		}
		for _, r := range s.Readings {
			val, level := "-", "-"
			if r.Value != nil {
				val, level = num(*r.Value), r.Level
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s", r.Name, r.Kind, val, r.Unit, r.Status, level)
			for _, k := range telemetry.ThresholdNames {
				if v, ok := r.Thresholds[k]; ok {
					fmt.Fprintf(tw, "\t%s", num(v))
				} else {
					fmt.Fprint(tw, "\tna")
				}
			}
			fmt.Fprintln(tw)
		}
		errs = append(errs, tw.Flush())
		offered := func(role string) bool {
			for _, r := range s.NotOffered {
				if r == role {
					fmt.Fprintf(w, "%-9s %s\n", role+":", notOffered)
					return false
				}
			}
			return true
		}
		if s.ReadingsErr != "" {
			fmt.Fprintf(w, "readings: error: %s\n", s.ReadingsErr)
		}
		offered("readings")
		switch {
		case !offered("health"):
		case s.HealthErr != "":
			fmt.Fprintf(w, "health:   error: %s\n", s.HealthErr)
		case s.Health != nil:
			h := s.Health
			fmt.Fprintf(w, "health:   failed=%t power=%s power_fault=%t main_power_fault=%t overload=%t interlock=%t fault=%t",
				h.Failed, h.Power, h.PowerFault, h.MainPowerFault, h.Overload, h.Interlock, h.Fault)
			if h.Detail != "" {
				fmt.Fprintf(w, " (%s)", h.Detail)
			}
			fmt.Fprintln(w)
			for _, e := range h.Events {
				ts := "-"
				if e.Time != nil {
					ts = e.Time.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "  event:  %s %s %s: %s\n", ts, e.Severity, e.Source, e.Message)
			}
		}
		switch {
		case !offered("power"):
		case s.PowerErr != "":
			fmt.Fprintf(w, "power:    error: %s\n", s.PowerErr)
		default:
			fmt.Fprintf(w, "power:    %s\n", s.Power)
		}
		switch {
		case !offered("watchdog"):
		case s.WatchdogErr != "":
			fmt.Fprintf(w, "watchdog: error: %s\n", s.WatchdogErr)
		case s.Watchdog != nil:
			d := s.Watchdog
			fmt.Fprintf(w, "watchdog: running=%t expired=%t timeout=%ss remaining=%ss action=%s\n",
				d.Running, d.Expired, num(d.Timeout), num(d.Remaining), d.Action)
		}
		if s.OK {
			fmt.Fprintln(w, "result:   ok")
		} else {
			fmt.Fprintf(w, "result:   FAILED: %s\n", strings.Join(s.Failures, "; "))
		}
	}
	return errors.Join(errs...)
}

// num prints a value with at most three decimals and no trailing zeros.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64) }
