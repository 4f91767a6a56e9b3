// Command failoverd runs the failover method deployed across machines:
// a rack manager polling every BMC of the rack and serving statuses and
// power over mutual TLS, and a monitor on each server; see README.md in
// this directory for the roles, the config schema and a deployment.
//
// The code is the command only: each role is built from the config
// (config*.go, adapters.go) and run until its context ends (roles.go,
// rackmanager.go, monitor.go); the demo (demo*.go) runs the same binary
// as separate processes. The daemon's own types are used from the
// goroutines of one role; eventWriter and the liveness gate are safe for
// concurrent use.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
