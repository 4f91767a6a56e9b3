package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

const usage = `usage: failoverd COMMAND [flags]

commands:
  rack-manager -config F            poll every BMC, serve statuses and power over mutual TLS
  monitor -config F [-server S]     watch this server's peers, take over their VMs
  all -config F                     the rack manager and every monitor in one process
  certs -dir D -servers s1,s2,...   a bootstrap CA and certificates (not a PKI)
  status -config F [-json]          each server's status through the rack manager
  lease -config F show | release S  each server's etcd lease and takeover record; remove one by hand
  demo [-json] [-servers 2|4] [-scenario four-failures|total-power-loss|lease-partition]
                                    a simulated rack as separate processes on loopback
  replay [-policy F] [-compare F2] [-json] TELEMETRY...
                                    what a policy would have done with recorded telemetry
`

// run is the whole command; it returns the exit status: 0 ok, 1 failure,
// 2 bad usage or config, 3 a status that shows a server not well.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "rack-manager", "monitor", "all":
		err = runRole(cmd, rest, stdout, stderr)
	case "certs":
		err = runCerts(rest, stdout, stderr)
	case "status":
		err = runStatus(rest, stdout, stderr)
	case "demo":
		err = runDemo(rest, stdout, stderr)
	case "lease":
		err = runLease(rest, stdout, stderr)
	case "replay":
		err = runReplay(rest, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "failoverd: unknown command %q\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUnhealthy):
		fmt.Fprintln(stderr, "failoverd status:", err)
		return 3
	case errors.Is(err, ErrConfig), errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "failoverd:", err)
		return 2
	}
	fmt.Fprintln(stderr, "failoverd:", err)
	return 1
}

// errUsage marks bad flags; exit status 2.
var errUsage = errors.New("usage")

// usageError is a bad flag or argument.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// newFlags is a FlagSet that reports to stderr and never exits.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("failoverd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args; a parse error is a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
