// Package failovertest is a deterministic simulated rack for testing the
// failover method and policies: servers with simulated BMCs (simbmc) and
// hypervisors (memhv), a shared image store, the in-process rack manager
// and a Monitor per server, all driven by one manual clock. Faults are
// injected by name (power loss, voltage sag, overheating, a hung OS, an
// unreachable BMC, a failing or indeterminate fence, a monitor crash,
// healthy noise) and a checker verifies the safety and liveness
// invariants after every step.
//
// Nothing here starts a goroutine, sleeps or draws random numbers: the
// same calls give the same events. Scenario (in scenario.go) draws faults
// from a seed, so a failing seed replays exactly.
//
// FailingTraces, HealthyTraces and Evaluate (traces.go, predict.go) judge
// predictive evacuation on seeded telemetry recordings of one server;
// they share nothing and are safe to call concurrently.
//
// A Rack is not safe for concurrent use.
package failovertest
