// Package rack is the patent's rack manager: it collects every server's
// status from its BMC on a schedule, keeps each server's recent history in a
// bounded Journal (the patent's "debug library"), delivers each server's
// status to the server watching it, and fences, powers on and restarts
// servers through a power interface that reads the state back.
//
// Monitors reach the rack manager through the Manager interface, so a
// network client can stand in for the in-process Local manager.
//
// Local reads each server two ways: a full poll every Interval (health,
// sensors, watchdog) and a fast poll every FastInterval (health only: power
// state and fault bits), so a hard fault reaches the watcher within a
// fraction of a second. Every status carries the storm guard's input
// (RackFailed of RackSize). When a watcher is gone or failed for
// HandoverAfter, the servers it watched are delivered to the next live
// server along the topology until it is back (see WatcherOf).
//
// Concurrency: every exported method of Local and Journal is safe to call
// from any goroutine, including Poll, FastPoll and PollServer while Run
// runs. Reads of one server never overlap (a power operation may run
// beside them; adapters allow that): each server's read, journal
// append and delivery happen under that server's own lock, so its
// statuses reach the journal and every watcher in the order they were
// read (their Time never goes back when LocalConfig.Now does not). A fast
// read finding its server busy skips it rather than wait, so a slow BMC
// does not hold up the fast round; that server's fast read then comes a
// FastInterval later. Reads of different servers run in parallel, up to
// Parallel at once. With Parallel 1 and a manual clock, Poll and
// FastPoll are deterministic: servers are read and delivered in
// configuration order.
package rack
