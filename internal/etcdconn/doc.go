// Package etcdconn is the etcd client configuration that the etcd drivers
// (imagestore/etcdstore and lease/etcdlease) share: which cluster, over
// what TLS, as whom, and how the client reconnects. It exists so that both
// drivers check it, print it (password redacted, TLS config never shown)
// and dial with it in one way. A Config is a value: its methods and
// Format are safe for concurrent use, as long as nobody changes the
// *tls.Config or the client it points to.
package etcdconn
