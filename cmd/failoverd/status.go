package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackhttp"
	"github.com/rackha/failover/sensor"
)

// statusReport is what `failoverd status -json` prints: the rack
// manager's view of each server. A monitor's phase is known only inside
// that monitor (its log and event stream), not at the rack manager.
type statusReport struct {
	Time    time.Time      `json:"time"`
	Servers []serverReport `json:"servers"`
}

type serverReport struct {
	Name            string          `json:"name"`
	Watcher         string          `json:"watcher"`
	TopologyWatcher string          `json:"topology_watcher"`
	Polled          *time.Time      `json:"polled,omitempty"` // nil: never polled yet
	Reachable       bool            `json:"reachable"`
	Error           string          `json:"error,omitempty"`
	Power           string          `json:"power"`
	Failed          bool            `json:"failed"`
	Fault           string          `json:"fault,omitempty"`
	Watchdog        string          `json:"watchdog,omitempty"`
	Readings        []readingReport `json:"readings"`
	Events          []eventReport   `json:"events"`
}

type readingReport struct {
	Name  string   `json:"name"`
	Kind  string   `json:"kind"`
	Value float64  `json:"value"`
	Unit  string   `json:"unit"`
	Level string   `json:"level"` // normal, caution, critical, fatal; or unavailable
	Low   *float64 `json:"low_critical,omitempty"`
	High  *float64 `json:"high_critical,omitempty"`
}

type eventReport struct {
	Time     time.Time `json:"time"`
	Severity string    `json:"severity"`
	Source   string    `json:"source"`
	Message  string    `json:"message"`
}

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	path := fs.String("config", "", "the rack's YAML config file (required)")
	as := fs.String("server", "", "present this server's certificate (default: the config's operator certificate)")
	jsonOut := fs.Bool("json", false, "print JSON instead of a table")
	n := fs.Int("events", 5, "how many of each server's last events to show")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError("status needs -config FILE")
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	pair, field := cfg.Operator, "operator"
	if *as != "" {
		i := cfg.serverIndex(*as)
		if i < 0 {
			return usageError("-server %q is not one of the servers in %s", *as, cfg.File)
		}
		pair, field = cfg.Servers[i].TLS, fmt.Sprintf("servers[%d].tls", i)
	}
	if pair.Cert == "" {
		return usageError("status needs a certificate: set operator: {cert, key} in %s (its name in rack_manager.operators), or give -server NAME", cfg.File)
	}
	d := &daemon{cfg: cfg}
	files, err := d.loadCerts(field, pair)
	if err != nil {
		return err
	}
	d.log = discardLogger()
	c, err := d.rackClient(files)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	view, err := c.RackJournal(ctx, rackhttp.MaxJournal)
	if err != nil {
		return fmt.Errorf("status from %s: %w", cfg.RackManager.URL, err)
	}
	rep := makeReport(view, *n)
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = writeTable(stdout, rep)
	}
	if err != nil {
		return err
	}
	return rep.healthy()
}

// errUnhealthy: status printed, but the rack is not all well (exit 3).
var errUnhealthy = errors.New("rack not healthy")

// healthy is nil when every server was polled, answers, is on and not
// failed, and has a watcher; else it names the first that is not.
func (r statusReport) healthy() error {
	for _, s := range r.Servers {
		var why string
		switch {
		case s.Polled == nil:
			why = "never polled"
		case !s.Reachable:
			why = "its BMC does not answer"
		case s.Power != "on":
			why = "power " + s.Power
		case s.Failed:
			why = "failed"
		case s.Watcher == "":
			why = "nobody watches it"
		}
		if why != "" {
			return fmt.Errorf("%w: %s: %s", errUnhealthy, s.Name, why)
		}
	}
	return nil
}

// makeReport judges each server's latest readings against their
// thresholds and keeps its last n events from the journal.
func makeReport(view rackhttp.RackView, n int) statusReport {
	rep := statusReport{Time: view.Time}
	for _, sv := range view.Servers {
		sr := serverReport{Name: sv.Name, Watcher: sv.Watcher, TopologyWatcher: sv.TopologyWatcher, Power: "unknown",
			Readings: []readingReport{}, Events: []eventReport{}}
		if st := latestFull(sv); st != nil {
			t := st.Time
			sr.Polled, sr.Reachable, sr.Error = &t, st.Reachable, st.Err
			sr.Power = st.Health.Power.String()
			sr.Failed, sr.Fault = st.Health.Failed(), st.Health.Detail
			if st.WatchdogKnown {
				w := st.Watchdog
				switch {
				case w.Expired:
					sr.Watchdog = fmt.Sprintf("expired (timeout %v, %v)", w.Timeout, w.Action)
				case w.Running:
					sr.Watchdog = fmt.Sprintf("running, %v of %v left, %v", w.Remaining.Round(100*time.Millisecond), w.Timeout, w.Action)
				default:
					// Some BMCs (ipmi_sim) never report the countdown to a
					// reader that did not arm the timer.
					sr.Watchdog = fmt.Sprintf("not seen running (timeout %v, %v)", w.Timeout, w.Action)
				}
			}
			for _, r := range st.Readings {
				sr.Readings = append(sr.Readings, judge(r))
			}
		}
		seen := map[string]bool{}
		for _, st := range sv.Journal {
			for _, e := range st.Health.Events {
				key := e.Time.String() + e.Source + e.Message
				if seen[key] {
					continue
				}
				seen[key] = true
				sr.Events = append(sr.Events, eventReport{Time: e.Time, Severity: e.Severity.String(), Source: e.Source, Message: e.Message})
			}
		}
		sr.Events = sr.Events[max(0, len(sr.Events)-n):]
		rep.Servers = append(rep.Servers, sr)
	}
	return rep
}

// latestFull is the newest full (not fast) status, else the newest.
func latestFull(sv rackhttp.ServerView) *rack.Status {
	for i := len(sv.Journal) - 1; i >= 0; i-- {
		if !sv.Journal[i].Fast {
			st := sv.Journal[i]
			if sv.Latest != nil && sv.Latest.Time.After(st.Time) {
				// A newer fast poll knows the power better.
				st.Health = sv.Latest.Health
				st.Reachable, st.Err = sv.Latest.Reachable, sv.Latest.Err
			}
			return &st
		}
	}
	return sv.Latest
}

func judge(r sensor.Reading) readingReport {
	rr := readingReport{Name: r.Name, Kind: r.Kind.String(), Value: r.Value, Unit: r.Unit, Level: r.Thresholds.Level(r.Value).String()}
	if r.Status == sensor.StatusUnavailable {
		rr.Level = "unavailable"
	}
	if l := r.Thresholds.LowerCritical; l.Set {
		rr.Low = &l.Value
	}
	if h := r.Thresholds.UpperCritical; h.Set {
		rr.High = &h.Value
	}
	return rr
}

func writeTable(w io.Writer, rep statusReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tWATCHER\tREACHABLE\tPOWER\tHEALTH\tWATCHDOG\tPOLLED")
	for _, s := range rep.Servers {
		watcher := s.Watcher
		if watcher == "" {
			watcher = "(none)"
		}
		if s.Watcher != s.TopologyWatcher {
			watcher += " (handed over from " + s.TopologyWatcher + ")"
		}
		health := "ok"
		if s.Failed {
			health = "FAILED"
			if s.Fault != "" {
				health += ": " + s.Fault
			}
		}
		polled := "never"
		if s.Polled != nil {
			polled = rep.Time.Sub(*s.Polled).Round(10*time.Millisecond).String() + " ago"
		}
		reach := "yes"
		if !s.Reachable {
			reach = "NO"
			if s.Error != "" {
				reach += ": " + s.Error
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, watcher, reach, s.Power, health, orDash(s.Watchdog), polled)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range rep.Servers {
		fmt.Fprintf(w, "\n%s readings (against the BMC's critical thresholds):\n", s.Name)
		for _, r := range s.Readings {
			var lim []string
			if r.Low != nil {
				lim = append(lim, fmt.Sprintf(">%.4g", *r.Low))
			}
			if r.High != nil {
				lim = append(lim, fmt.Sprintf("<%.4g", *r.High))
			}
			mark := ""
			if r.Level != "normal" {
				mark = "  <-- " + strings.ToUpper(r.Level)
			}
			fmt.Fprintf(w, "  %-20s %10.4g %-4s %-8s %s%s\n", r.Name, r.Value, r.Unit, strings.Join(lim, " "), r.Kind, mark)
		}
		if len(s.Events) > 0 {
			fmt.Fprintf(w, "%s last events:\n", s.Name)
			for _, e := range s.Events {
				fmt.Fprintf(w, "  %s  %-8s %s: %s\n", e.Time.Format(time.RFC3339), e.Severity, e.Source, e.Message)
			}
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
