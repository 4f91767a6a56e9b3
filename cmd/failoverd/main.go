// Command failoverd runs the failover method deployed across machines:
// a rack manager polling every BMC of the rack, and a monitor on each
// server. See README.md in this directory.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
