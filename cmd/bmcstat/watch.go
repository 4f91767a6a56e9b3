package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rackha/failover/telemetry"
)

// Watch flags: -watch records every target at each interval as
// telemetry lines (see docs/telemetry.md).
var (
	watch   = flag.Duration("watch", 0, "poll every `INTERVAL` until SIGINT/SIGTERM, appending one telemetry JSON line per target per poll (needs -json)")
	outFile = flag.String("out", "", "with -watch: append the lines to `FILE` instead of stdout")
	server  = flag.String("server", "", "with -watch: the server `NAME`(s) recorded, comma-separated in target order (default: each target's address)")
)

// checkWatchFlags refuses the watch flags that do not fit together.
func checkWatchFlags() error {
	switch {
	case *watch < 0:
		return fmt.Errorf("-watch %v: want a positive interval", *watch)
	case *watch > 0 && !*jsonOut:
		return errors.New("-watch records JSON lines: add -json")
	case *watch == 0 && (*outFile != "" || *server != ""):
		return errors.New("-out and -server are for -watch")
	}
	return nil
}

// watchTargets polls every target each -watch interval and writes one
// line per target per poll, until ctx ends (exit 0) or a write fails
// (exit 1). A failed poll is a line too: the record with its failures.
func watchTargets(ctx context.Context, targets []target, stdout, stderr io.Writer) int {
	defer func() {
		for _, t := range targets {
			if t.close != nil {
				if err := t.close(); err != nil {
					fmt.Fprintf(stderr, "bmcstat: %s: close: %v\n", t.name, err)
				}
			}
		}
	}()
	names, err := serverNames(targets)
	if err != nil {
		fmt.Fprintf(stderr, "bmcstat: %v\n", err)
		return exitUsage
	}
	w := stdout
	if *outFile != "" {
		f, err := os.OpenFile(*outFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "bmcstat: -out: %v\n", err)
			return exitFailed
		}
		defer f.Close()
		w = f
	}
	tick := time.NewTicker(*watch)
	defer tick.Stop()
	for {
		for i, t := range targets {
			at := time.Now()
			pctx, cancel := context.WithTimeout(ctx, *timeout)
			r := collect(pctx, t)
			cancel()
			if ctx.Err() != nil {
				return exitOK // stopped mid-poll: that poll is not a reading
			}
			r.Format, r.Time, r.Server = telemetry.Format, at, names[i]
			line, err := telemetry.Encode(r)
			if err == nil {
				_, err = w.Write(line)
			}
			if err != nil {
				fmt.Fprintf(stderr, "bmcstat: write: %v\n", err)
				return exitFailed
			}
		}
		select {
		case <-ctx.Done():
			return exitOK
		case <-tick.C:
		}
	}
}

// serverNames are -server's names, one per target, or each target's
// address: "ipmi 10.0.0.5:623" gives 10.0.0.5:623, "redfish
// https://h:8443 system 1" the system's URL https://h:8443/redfish/v1/Systems/1.
func serverNames(targets []target) ([]string, error) {
	var names []string
	if *server != "" {
		names = strings.Split(*server, ",")
		if len(names) != len(targets) {
			return nil, fmt.Errorf("-server %q: %d names for %d targets", *server, len(names), len(targets))
		}
		seen := map[string]bool{}
		for i, n := range names {
			if names[i] = strings.TrimSpace(n); names[i] == "" {
				return nil, fmt.Errorf("-server %q: empty name", *server)
			}
			if seen[names[i]] {
				return nil, fmt.Errorf("-server %q: %q twice", *server, names[i])
			}
			seen[names[i]] = true
		}
		return names, nil
	}
	for _, t := range targets {
		_, addr, _ := strings.Cut(t.name, " ")
		if addr == "" {
			addr = t.name
		}
		if u, id, ok := strings.Cut(addr, " system "); ok {
			addr = strings.TrimSuffix(u, "/") + "/redfish/v1/Systems/" + id
		}
		names = append(names, addr)
	}
	return names, nil
}
