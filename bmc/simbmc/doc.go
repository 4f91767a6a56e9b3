// Package simbmc is a simulated BMC for tests and simulations: sensors
// whose values a test scripts, a watchdog that really counts down, power
// state with read-back semantics, blade health with an event log, and
// fault injection (unreachable BMC, lost main power, failing or
// indeterminate power operations).
//
// Time comes from Config.Clock, so a simulation can run it on a manual
// clock (clock.Manual). The simulator starts no goroutine and never sleeps:
// the watchdog's countdown is computed from Clock.Now() at each call, and an
// expiry is applied (Expired set, the expiry action carried out, OnPower
// called) at the first call, or Sync, at or after the moment it fell due.
//
// A *BMC is safe for concurrent use: one mutex guards its state. OnPower is
// called with that mutex held, so it must not call back into the same BMC.
package simbmc
