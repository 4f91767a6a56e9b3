package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/telemetry"
	"gopkg.in/yaml.v3"
)

const replayUsage = `usage: failoverd replay [flags] TELEMETRY...

Runs the failover engine over recorded telemetry (bmcstat -watch -json
lines, or a rack manager's journal files) of two or more servers, on the
recorded clock, and prints what the policy would have detected, fenced,
evacuated and started, and when. Power and VM operations are simulated:
each succeeds after its latency. Once the simulation fences a server, its
recording is superseded (the server would be off): it shows its simulated
power and no sensor values until the recording reads healthy again while
the server is on. See docs/telemetry.md.

flags:
`

// runReplay is failoverd replay.
func runReplay(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), replayUsage)
		fs.PrintDefaults()
	}
	policyFile := fs.String("policy", "", "YAML `FILE` whose policy section (as in failoverd's config) overrides the default policy")
	compare := fs.String("compare", "", "a second policy `FILE`: print where its run differs from -policy's")
	jsonOut := fs.Bool("json", false, "print JSON lines instead of the timeline")
	topology := fs.String("topology", "ring", "who watches whom among the servers, in the order first recorded: ring or pairs")
	vms := fs.Int("vms", 2, "VMs each server owns in the simulation")
	var lat replayLatency
	fs.DurationVar(&lat.Power, "power-latency", 3*time.Second, "simulated fence or restart, read-back included")
	fs.DurationVar(&lat.Start, "start-latency", 2*time.Second, "simulated VM start")
	fs.DurationVar(&lat.Checkpoint, "checkpoint-latency", 5*time.Second, "simulated VM checkpoint")
	fs.DurationVar(&lat.Op, "op-latency", 10*time.Millisecond, "simulated store read or write and hypervisor query")
	tick := fs.Duration("tick", time.Second, "the monitor's tick, in recorded time (the engine is also ticked when it asks)")
	after := fs.Duration("after", time.Minute, "how long past the last record simulated actions still complete")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case fs.NArg() == 0:
		return usageError("replay: no telemetry file given")
	case *topology != "ring" && *topology != "pairs":
		return usageError("replay: -topology %q: want ring or pairs", *topology)
	case *vms < 0 || *vms > 1000:
		return usageError("replay: -vms %d: want 0 to 1000", *vms)
	case *tick <= 0:
		return usageError("replay: -tick %v: want positive", *tick)
	case *after < 0:
		return usageError("replay: -after %v: want 0 or more", *after)
	}
	for name, d := range map[string]time.Duration{"-power-latency": lat.Power, "-start-latency": lat.Start,
		"-checkpoint-latency": lat.Checkpoint, "-op-latency": lat.Op} {
		if d < 0 {
			return usageError("replay: %s %v: want 0 or more", name, d)
		}
	}
	setup, err := loadTelemetry(fs.Args())
	if err != nil {
		return err
	}
	setup.Topology, setup.VMs, setup.Latency, setup.Tick, setup.After = *topology, *vms, lat, *tick, *after
	policy, err := loadPolicyFile(*policyFile)
	if err != nil {
		return err
	}
	if *compare != "" {
		other, err := loadPolicyFile(*compare)
		if err != nil {
			return err
		}
		a, err := replayEvents(setup, policy, nil)
		if err != nil {
			return err
		}
		b, err := replayEvents(setup, other, nil)
		if err != nil {
			return err
		}
		nameA := *policyFile
		if nameA == "" {
			nameA = "default"
		}
		return printDiffs(stdout, *jsonOut, nameA, *compare, setup.start(), compareEvents(a, b))
	}
	sim, err := newReplaySim(setup, policy, nil)
	if err != nil {
		return err
	}
	if !*jsonOut {
		if err := printReplayHeader(stdout, setup, sim); err != nil {
			return err
		}
	}
	tl := failover.NewTimeline(stdout, *jsonOut, sim.clock)
	sim.onEvent, sim.onFault = tl.Record, tl.Mark
	if _, err := sim.Run(); err != nil {
		return err
	}
	return tl.Err()
}

// printReplayHeader says what is replayed: who watches whom, and the
// span of each recording.
func printReplayHeader(w io.Writer, setup replaySetup, sim *replaySim) error {
	_, err := fmt.Fprintf(w, "replay from %s, %s, %d VMs a server:\n", setup.start().UTC().Format(time.RFC3339Nano), setup.Topology, setup.VMs)
	for _, n := range setup.Servers {
		rs := setup.Records[n]
		if err == nil {
			_, err = fmt.Fprintf(w, "  %-12s %6d polls over %-10v watched by %s\n", n, len(rs),
				rs[len(rs)-1].Time.Sub(rs[0].Time).Round(time.Millisecond), sim.topo.WatcherOf(n))
		}
	}
	return err
}

// replayEvents runs one simulation.
func replayEvents(setup replaySetup, p failover.Policy, onEvent func(failover.Event)) ([]failover.Event, error) {
	sim, err := newReplaySim(setup, p, onEvent)
	if err != nil {
		return nil, err
	}
	return sim.Run()
}

// start is the time of the first record.
func (s replaySetup) start() time.Time {
	var t time.Time
	for _, rs := range s.Records {
		if len(rs) > 0 && (t.IsZero() || rs[0].Time.Before(t)) {
			t = rs[0].Time
		}
	}
	return t
}

// loadTelemetry reads every file; servers are in the order first seen.
func loadTelemetry(files []string) (replaySetup, error) {
	setup := replaySetup{Records: map[string][]rack.Status{}}
	for _, f := range files {
		if err := loadFile(&setup, f); err != nil {
			return setup, err
		}
	}
	if len(setup.Servers) < 2 {
		return setup, usageError("replay: the files record %d server(s); a replay needs at least 2 (a server is watched by another)", len(setup.Servers))
	}
	for _, rs := range setup.Records {
		slices.SortStableFunc(rs, func(a, b rack.Status) int { return a.Time.Compare(b.Time) })
	}
	return setup, nil
}

// loadFile adds the statuses of one file.
func loadFile(setup *replaySetup, file string) error {
	fh, err := os.Open(file)
	if err != nil {
		return usageError("replay: %v", err)
	}
	defer fh.Close()
	dec := telemetry.NewDecoder(fh, file)
	for {
		st, err := dec.NextStatus()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return usageError("replay: %v", err)
		}
		if _, ok := setup.Records[st.Server]; !ok {
			setup.Servers = append(setup.Servers, st.Server)
		}
		setup.Records[st.Server] = append(setup.Records[st.Server], st)
	}
}

// loadPolicyFile is the default policy with the policy section of path
// (a policy file, or a failoverd config: the other sections are decoded
// but not checked), or the default policy when path is "". Errors name
// file:line:field.
func loadPolicyFile(path string) (failover.Policy, error) {
	if path == "" {
		return failover.DefaultPolicy(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return failover.Policy{}, &ConfigError{File: path, Field: "(file)", Msg: "cannot read", Err: err}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return failover.Policy{}, yamlError(path, err, nil)
	}
	if len(root.Content) == 0 {
		return failover.Policy{}, &ConfigError{File: path, Line: 1, Field: "(file)", Msg: "is empty"}
	}
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		return failover.Policy{}, yamlError(path, err, root.Content[0])
	}
	cfg.File = path
	v := &checker{file: path, root: root.Content[0]}
	cfg.pos = v
	p, err := cfg.policy()
	if err != nil {
		if ce, ok := err.(*ConfigError); ok {
			return p, ce
		}
		v.fail(policyField(err.Error()), "refused", err)
		return p, v.err
	}
	return p, nil
}

// eventDiff is one event of one run with no match in the other, or
// matched at another time.
type eventDiff struct {
	Type   string          `json:"type"` // always "difference"
	Kind   string          `json:"kind"` // only-a, only-b, time
	Event  failover.Event  `json:"event"`
	Other  *failover.Event `json:"other,omitempty"` // the matched event of b, for kind time
	DeltaS float64         `json:"delta_seconds,omitempty"`
}

// compared are the event types a comparison looks at.
var compared = map[failover.EventType]bool{failover.EventDetected: true, failover.EventEvacuating: true,
	failover.EventEvacuated: true, failover.EventFenced: true, failover.EventBackupStarted: true,
	failover.EventRestarted: true, failover.EventRecovered: true}

// compareEvents pairs the n-th event of a type, server and VM in a with
// the n-th in b, and lists the unmatched and those at different times.
func compareEvents(a, b []failover.Event) []eventDiff {
	type key struct {
		typ        failover.EventType
		server, vm string
	}
	keyOf := func(e failover.Event) key { return key{e.Type, e.Server, e.VM} }
	group := func(evs []failover.Event) map[key][]failover.Event {
		m := map[key][]failover.Event{}
		for _, e := range evs {
			if compared[e.Type] {
				m[keyOf(e)] = append(m[keyOf(e)], e)
			}
		}
		return m
	}
	gb := group(b)
	var out []eventDiff
	for _, e := range a {
		if !compared[e.Type] {
			continue
		}
		k := keyOf(e)
		if len(gb[k]) == 0 {
			out = append(out, eventDiff{Type: "difference", Kind: "only-a", Event: e})
			continue
		}
		o := gb[k][0]
		gb[k] = gb[k][1:]
		if !o.Time.Equal(e.Time) {
			out = append(out, eventDiff{Type: "difference", Kind: "time", Event: e, Other: &o, DeltaS: o.Time.Sub(e.Time).Seconds()})
		}
	}
	for _, rest := range gb {
		for _, e := range rest {
			out = append(out, eventDiff{Type: "difference", Kind: "only-b", Event: e})
		}
	}
	slices.SortStableFunc(out, func(x, y eventDiff) int {
		return cmp.Or(x.Event.Time.Compare(y.Event.Time), cmp.Compare(x.Event.Server, y.Event.Server),
			cmp.Compare(x.Event.Type, y.Event.Type), cmp.Compare(x.Event.VM, y.Event.VM), cmp.Compare(x.Kind, y.Kind))
	})
	return out
}

// printDiffs prints the differences as lines or JSON lines.
func printDiffs(w io.Writer, jsonLines bool, nameA, nameB string, start time.Time, diffs []eventDiff) error {
	if jsonLines {
		enc := json.NewEncoder(w)
		for _, d := range diffs {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		return nil
	}
	rel := func(t time.Time) string { return "t=" + t.Sub(start).Round(10*time.Millisecond).String() }
	if len(diffs) == 0 {
		_, err := fmt.Fprintf(w, "no difference between %s and %s\n", nameA, nameB)
		return err
	}
	for _, d := range diffs {
		var err error
		switch d.Kind {
		case "only-a":
			_, err = fmt.Fprintf(w, "only with %s: %8s  %v\n", nameA, rel(d.Event.Time), d.Event)
		case "only-b":
			_, err = fmt.Fprintf(w, "only with %s: %8s  %v\n", nameB, rel(d.Event.Time), d.Event)
		default:
			_, err = fmt.Fprintf(w, "moved by %s: %8s -> %s  %v\n", nameB, rel(d.Event.Time), rel(d.Other.Time), d.Event)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
