// Command bmcstat prints the status of one or more BMCs: sensor readings
// with their thresholds, blade health, power state and the watchdog timer,
// as a table or, with -json, as one JSON document.
//
//	go run ./examples/bmcstat -ipmi 127.0.0.1:623 -user admin [-pass P] [-cipher 3]
//	go run ./examples/bmcstat -redfish https://127.0.0.1:8443 -user admin [-pass P] [-cacert FILE | -pin SHA256 | -insecure] [-system ID]
//
// The password may also come from the environment variable BMC_PASSWORD,
// so that it need not appear in the process list.
//
// Protocol backends live in their own files and register themselves in
// init() with register: each adds its own flags, says whether it was asked
// for (enabled) and opens its targets (open). main.go holds only what all
// backends share: the common flags, the status collection and the printers.
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
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// backend is one protocol (IPMI, Redfish, ...).
type backend struct {
	name string
	// enabled reports whether the user asked for this backend (its
	// address flag is set).
	enabled func() bool
	// open connects to every target the flags name. The caller closes them.
	open func(ctx context.Context) ([]target, error)
}

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
	timeout = flag.Duration("timeout", 20*time.Second, "overall time limit")
)

// password returns -pass, or BMC_PASSWORD when -pass is empty.
func password() string {
	if *pass != "" {
		return *pass
	}
	return os.Getenv("BMC_PASSWORD")
}

func main() {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	code := run(ctx, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// run opens every enabled backend, collects and prints each target's
// status, and returns the exit code: 0 all read, 1 some part failed,
// 2 usage error.
func run(ctx context.Context, stdout, stderr io.Writer) int {
	var targets []target
	code := 0
	asked := false
	for _, b := range backends {
		if !b.enabled() {
			continue
		}
		asked = true
		ts, err := b.open(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "bmcstat: %s: %v\n", b.name, err)
			code = 1
			continue
		}
		targets = append(targets, ts...)
	}
	if !asked {
		fmt.Fprintln(stderr, "bmcstat: no BMC given; use one of the backend flags:")
		flag.CommandLine.SetOutput(stderr)
		flag.PrintDefaults()
		return 2
	}
	var all []status
	for _, t := range targets {
		s := collect(ctx, t)
		if s.failed() {
			code = 1
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
		return 1
	}
	return code
}

// status is everything read from one target; each part has its own error.
type status struct {
	Target      string        `json:"target"`
	Readings    []readingJSON `json:"readings"`
	ReadingsErr string        `json:"readings_error,omitempty"`
	Health      *healthJSON   `json:"health,omitempty"`
	HealthErr   string        `json:"health_error,omitempty"`
	Power       string        `json:"power,omitempty"`
	PowerErr    string        `json:"power_error,omitempty"`
	Watchdog    *watchdogJSON `json:"watchdog,omitempty"`
	WatchdogErr string        `json:"watchdog_error,omitempty"`
}

func (s status) failed() bool {
	return s.ReadingsErr != "" || s.HealthErr != "" || s.PowerErr != "" || s.WatchdogErr != ""
}

type readingJSON struct {
	Name       string             `json:"name"`
	Kind       string             `json:"kind"`
	Status     string             `json:"status"`
	Value      *float64           `json:"value,omitempty"` // absent when unavailable
	Unit       string             `json:"unit"`
	Level      string             `json:"level,omitempty"`
	Thresholds map[string]float64 `json:"thresholds,omitempty"`
}

type eventJSON struct {
	Time     *time.Time `json:"time,omitempty"`
	Source   string     `json:"source"`
	Message  string     `json:"message"`
	Severity string     `json:"severity"`
}

type healthJSON struct {
	Power          string      `json:"power"`
	PowerFault     bool        `json:"power_fault"`
	MainPowerFault bool        `json:"main_power_fault"`
	Overload       bool        `json:"overload"`
	Interlock      bool        `json:"interlock"`
	Fault          bool        `json:"fault"`
	Detail         string      `json:"detail,omitempty"`
	Failed         bool        `json:"failed"`
	Events         []eventJSON `json:"events"`
}

type watchdogJSON struct {
	Running   bool    `json:"running"`
	Expired   bool    `json:"expired"`
	Timeout   float64 `json:"timeout_seconds"`
	Remaining float64 `json:"remaining_seconds"`
	Action    string  `json:"action"`
}

const notOffered = "not offered by this backend"

// collect reads every role of t; a failing role does not stop the others.
func collect(ctx context.Context, t target) status {
	s := status{Target: t.name, Readings: []readingJSON{}}
	if t.sensors == nil {
		s.ReadingsErr = notOffered
	} else if rs, err := t.sensors.Readings(ctx); err != nil {
		s.ReadingsErr = err.Error()
	} else {
		for _, r := range rs {
			s.Readings = append(s.Readings, toReadingJSON(r))
		}
	}
	if t.health == nil {
		s.HealthErr = notOffered
	} else if h, err := t.health.Health(ctx); err != nil {
		s.HealthErr = err.Error()
	} else {
		s.Health = toHealthJSON(h)
	}
	if t.power == nil {
		s.PowerErr = notOffered
	} else if p, err := t.power.PowerState(ctx); err != nil {
		s.PowerErr = err.Error()
	} else {
		s.Power = p.String()
	}
	if t.watchdog == nil {
		s.WatchdogErr = notOffered
	} else if w, err := t.watchdog.State(ctx); err != nil {
		s.WatchdogErr = err.Error()
	} else {
		s.Watchdog = &watchdogJSON{Running: w.Running, Expired: w.Expired, Timeout: w.Timeout.Seconds(),
			Remaining: w.Remaining.Seconds(), Action: w.Action.String()}
	}
	return s
}

func toReadingJSON(r sensor.Reading) readingJSON {
	j := readingJSON{Name: r.Name, Kind: r.Kind.String(), Status: r.Status.String(), Unit: r.Unit}
	if r.Status == sensor.StatusOK {
		v := r.Value
		j.Value = &v
		j.Level = r.Thresholds.Level(v).String()
	}
	th := map[string]float64{}
	for _, l := range limits(r.Thresholds) {
		if l.lim.Set {
			th[l.name] = l.lim.Value
		}
	}
	if len(th) > 0 {
		j.Thresholds = th
	}
	return j
}

func toHealthJSON(h bmc.Health) *healthJSON {
	j := &healthJSON{Power: h.Power.String(), PowerFault: h.PowerFault, MainPowerFault: h.MainPowerFault,
		Overload: h.Overload, Interlock: h.Interlock, Fault: h.Fault, Detail: h.Detail, Failed: h.Failed(),
		Events: []eventJSON{}}
	for _, e := range h.Events {
		ej := eventJSON{Source: e.Source, Message: e.Message, Severity: e.Severity.String()}
		if !e.Time.IsZero() {
			t := e.Time
			ej.Time = &t
		}
		j.Events = append(j.Events, ej)
	}
	return j
}

type namedLimit struct {
	name string
	lim  sensor.Limit
}

// limits lists the thresholds from lowest to highest.
func limits(t sensor.Thresholds) []namedLimit {
	return []namedLimit{
		{"lower_fatal", t.LowerFatal}, {"lower_critical", t.LowerCritical}, {"lower_caution", t.LowerCaution},
		{"upper_caution", t.UpperCaution}, {"upper_critical", t.UpperCritical}, {"upper_fatal", t.UpperFatal},
	}
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
		fmt.Fprintln(tw, "SENSOR\tKIND\tVALUE\tUNIT\tSTATUS\tLEVEL\tLNR\tLCR\tLNC\tUNC\tUCR\tUNR")
		for _, r := range s.Readings {
			val, level := "-", "-"
			if r.Value != nil {
				val, level = num(*r.Value), r.Level
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s", r.Name, r.Kind, val, r.Unit, r.Status, level)
			for _, k := range []string{"lower_fatal", "lower_critical", "lower_caution", "upper_caution", "upper_critical", "upper_fatal"} {
				if v, ok := r.Thresholds[k]; ok {
					fmt.Fprintf(tw, "\t%s", num(v))
				} else {
					fmt.Fprint(tw, "\tna")
				}
			}
			fmt.Fprintln(tw)
		}
		errs = append(errs, tw.Flush())
		if s.ReadingsErr != "" {
			fmt.Fprintf(w, "readings: error: %s\n", s.ReadingsErr)
		}
		switch {
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
		if s.PowerErr != "" {
			fmt.Fprintf(w, "power:    error: %s\n", s.PowerErr)
		} else {
			fmt.Fprintf(w, "power:    %s\n", s.Power)
		}
		switch {
		case s.WatchdogErr != "":
			fmt.Fprintf(w, "watchdog: error: %s\n", s.WatchdogErr)
		case s.Watchdog != nil:
			d := s.Watchdog
			fmt.Fprintf(w, "watchdog: running=%t expired=%t timeout=%ss remaining=%ss action=%s\n",
				d.Running, d.Expired, num(d.Timeout), num(d.Remaining), d.Action)
		}
	}
	return errors.Join(errs...)
}

// num prints a value with at most three decimals and no trailing zeros.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64) }
