// Package scalebench measures failoverd at scale: racks of simulated
// BMCs (simbmc and memhv, served over a unix socket per rack by demosim),
// each polled by a real `failoverd rack-manager` process (with Replicas,
// the elected leader of several), one etcd server process (Debian's
// etcd-server) holding every rack's image store, election and leases, and
// one failover.Monitor per server, all monitors as goroutines of the
// calling process (with Leases, each on an etcd lease gating its BMC
// watchdog).
//
// Run builds the daemon, starts everything, waits until every monitor is
// fed and reconciled, measures a steady window (CPU per BMC from
// /proc/PID/stat of every rack-manager process, and of etcd and of this
// process; etcd requests from etcd's own /metrics; BMC calls from the
// rack managers' /metrics), then cuts the main power of several servers
// at once and times, per VM, the fault to its backup running on the
// watcher; with LeaseLoss, it then cuts more servers together with their
// BMCs, monitors and lease renewals, and times the takeover by lease. It
// fails unless every VM of a failed server ran again exactly once,
// elsewhere, and nothing else moved.
//
// It is a test harness, not a product API: Run takes a *testing.T, and
// without the etcd binary it skips (fails with CI=true). docs/scale.md
// has the figures and the command. Run must not run beside another Run
// (it measures whole processes); Result is plain data.
package scalebench
