// Package scalebench measures failoverd at scale: racks of simulated
// BMCs, each polled by a real `failoverd rack-manager` process, one etcd
// server process (Debian's etcd-server) holding every rack's image store,
// and one failover.Monitor per server, all monitors as goroutines of the
// calling process. Run builds the daemon, starts everything, measures a
// steady window (CPU per BMC from /proc of each rack-manager process and
// of etcd; etcd requests from etcd's own /metrics), then cuts the main
// power of several servers at once and times, per VM, the fault to its
// backup running on the watcher.
//
// It is a test harness, not a product API: Run takes a testing.TB, and
// without the etcd binary it skips (fails with CI=true). docs/scale.md
// has the figures and the command. Run is not safe to call concurrently
// with itself (it measures whole processes); Result is plain data.
package scalebench
