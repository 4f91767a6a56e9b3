// Package memhv is an in-memory hypervisor for tests and simulations. It
// implements hypervisor.Hypervisor, Checkpointer, CapacityReporter and
// Capturer, enforces capacity, and scripts faults: the host losing power,
// becoming unreachable, failing checkpoints or starts.
//
// Hypervisors that share a *Storage stand for servers that reach the same
// shared storage: a checkpoint taken on one resumes on another (once: the
// Storage remembers who resumed it), and the Storage answers "where does
// VM x run right now", for invariant checks.
//
// memhv is deterministic: no goroutine, no clock, no randomness. A
// *Hypervisor and a *Storage are safe for concurrent use.
package memhv
