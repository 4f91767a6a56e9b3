// Package etcdlease is the lease store of a takeover by lease (see the
// root package's lease.go for the bound and its assumptions) in etcd.
// Watchers use a *Store as failover.Leases and failover.WatchdogJournal;
// each host runs a Keeper for its own lease and gates its watchdog with
// GateWatchdog.
//
// # Keys
//
// Under Config.Prefix (default "/rackha/failover/"); server and watcher
// names are non-empty and hold no "/":
//
//   - lease/<server>: on the server's etcd lease; JSON {"ttl_ms":N}, the
//     TTL granted. Present means Held.
//   - takeover/<server>: the name of the watcher that took the server
//     over by lease. On no lease: it stays until Release.
//   - watchdog/<server>: the server's own declaration, "armed" or
//     "disarmed"; persistent.
//   - seen/<watcher>/<server>: the journal, JSON {"running","expired",
//     "timeout_ms","remaining_ms","action"} of the watchdog.State the
//     watcher last saw (durations in whole milliseconds, the action by
//     name).
//
// A value that does not decode is an error wrapping ErrCorrupt that names
// its key, never a panic.
//
// # Semantics that carry the safety argument
//
// The host's Keeper takes its lease with one transaction: if
// takeover/<server> is absent, put lease/<server> on a new etcd lease.
// A watcher's Takeover is one transaction too: if lease/<server> (and any
// takeover record) is absent, put takeover/<server>; else ErrLeaseHeld.
// So at every revision at most one of the two keys exists, and of a
// keeper and a watcher racing, exactly one wins. While a takeover is
// recorded the keeper waits, Alive false, and tries again every TTL/3;
// Release (a transaction: delete the record if it names the watcher) lets
// it take a lease again.
//
// The keeper renews every TTL/3 with KeepAliveOnce, then checks in a
// transaction that lease/<server> is still on its lease. Only when both
// are answered is the lease alive until the renewal's send time plus the
// TTL answered, on the host's monotonic clock; Alive reports now before
// that. On Linux that clock is CLOCK_BOOTTIME, which also counts time the
// machine was suspended, as the BMC's watchdog does (Go's time.Now
// monotonic reading does not: a host resumed after a sleep longer than
// the TTL would otherwise think its lease still alive). A renewal, or a check, whose answer did not come extends nothing.
// etcd expires the lease no earlier than the last renewal it applied plus
// the TTL, so the host stops kicking no later than etcd's expiry, which a
// watcher sees at or after it happens. A lease etcd no longer knows, or a
// key no longer on it, makes Alive false at once and the keeper takes a
// new lease (through the transaction).
//
// GateWatchdog's Kick refuses unless Alive, and its context ends with the
// lease. Arm declares "armed" first; Disarm declares "disarmed" first and
// leaves the watchdog armed if that write fails (a watcher reading no
// declaration may take the server over once the lease is gone: the
// watchdog must then stop the host).
//
// Watch reads every peer's lease and declaration at one revision, reports
// one failover.Lease each, then watches the prefix from that revision and
// reports each change of a peer's keys. When the watch breaks, the channel
// closes; the Monitor watches again.
//
// A write whose answer was lost (Takeover, Release, DeclareWatchdog) is
// resolved by reading the key back: the wanted value there is success,
// else the error wraps failover.ErrOutcomeUnknown (the write may still
// apply). A write etcd refused for certain is a plain error.
//
// # Errors
//
// Besides failover.ErrLeaseHeld and failover.ErrOutcomeUnknown:
// ErrTakenOver (Takeover of a server another watcher took over),
// ErrNotAlive (a gated Kick refused), ErrCannotDisarm, ErrRunning,
// ErrInvalidName, ErrInvalidConfig, ErrCorrupt and ErrClosed; check them
// with errors.Is.
//
// # Concurrency
//
// Every method of a *Store is safe for concurrent use, also by many
// processes on one prefix. A Keeper's Run runs once at a time (a second
// concurrent Run returns ErrRunning); its other methods are safe from any
// goroutine. Run one Keeper per server in the whole rack. Credentials
// never appear in errors, logs or the Config's printed forms.
package etcdlease
