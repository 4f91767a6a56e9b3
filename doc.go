// Package failover keeps virtual machines running when a server in a rack
// fails. Servers watch each other through their BMCs; when a watched server
// loses power, reports a blade fault, lets its watchdog expire, or reaches a
// danger threshold on a voltage or temperature, its watcher fences it (or,
// when it is degraded but alive, evacuates it), starts its VMs from the
// image store on its own hypervisor, and has the rack manager restart it.
//
// The decisions are made by Engine, a pure state machine: Inputs in,
// Actions out, no IO, clock, goroutine or randomness, so the same inputs
// always give the same actions and whole racks can be simulated
// deterministically (package failovertest). Monitor runs an Engine against
// real adapters: a rack.Manager for statuses and power, an
// imagestore.Store for VM ownership, and hypervisor.Hypervisor values.
//
// Safety goes beyond the patent the method comes from: a backup starts only
// after the failed server is confirmed fenced or its VM was checkpointed and
// stopped; ownership moves by compare-and-swap on the image's generation;
// an unreachable BMC is never taken for a failed server.
package failover
