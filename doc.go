// Package failover keeps virtual machines running when a server in a rack
// fails. Servers watch each other through their BMCs; when a watched server
// loses power, reports a blade fault, lets its watchdog expire, or reaches a
// danger threshold on a voltage or temperature, its watcher fences it (or,
// when it is degraded but alive, evacuates it), starts its VMs from the
// image store on its own hypervisor, and has the rack manager restart it.
//
// Every decision is made by Engine, a pure state machine: Inputs in,
// Actions out, no IO, clock, goroutine or randomness, so the same inputs
// always give the same actions and whole racks can be simulated
// deterministically (package failovertest). Each Action carries an ID its
// answer returns, so answers may come back in any order. Executor carries
// out one action against the adapters (a rack.Manager for statuses and
// power, an imagestore.Store for VM ownership, hypervisor.Hypervisor
// values) and decides nothing. Monitor, the runner, owns an engine and
// runs each action in its own goroutine; its Phase method is safe to call
// from any goroutine and never waits for an action. An Engine is not safe
// for concurrent use; an Executor is when its adapters are.
//
// Safety goes beyond the patent the method comes from: a backup starts only
// after the failed server is confirmed fenced (and the fence has settled)
// or its VM was checkpointed and stopped, and only when its last host does
// not report it running; ownership moves by compare-and-swap on the
// image's generation; an unreachable BMC is never taken for a failed
// server; while much of the rack fails at once, takeovers are held. The
// one takeover without a confirmed fence is by lease (Config.Leases): a
// server whose BMC died with it, whose lease in the store has expired and
// whose watchdog, last seen armed, must have stopped it (lease.go gives
// the bound and what it assumes). See docs/design.md.
//
// With Policy.Predict (the default) the engine also evacuates a server
// whose voltage or temperature is on course to reach its danger
// threshold, or whose BMC logs correctable memory errors too fast, while
// it still works; a prediction never fences. See docs/predict.md.
package failover
