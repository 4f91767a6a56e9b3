// Package etcdrig starts etcd for tests: embedded in the test binary
// (server/v3/embed), or Debian's etcd-server as a process of its own
// (External, which a test can kill and start again), plus a TCP Proxy that
// loses traffic one way as a partition does. Without the etcd binary a
// test skips, or fails with CI=true. Every function is safe to call from
// parallel tests; an External or Proxy belongs to the test that made it.
package etcdrig
