// Package etcdstore is an imagestore.Store in etcd, so VM ownership holds
// across machines: every server and rack-manager replica that uses the same
// cluster and prefix sees one history of each image.
//
// # Layout
//
// Each image is one key, Config.Prefix + "images/" + name, holding one
// JSON object: "format" (1 today; other formats are refused), then the
// image's fields in camelCase ("name", "generation", "owner", ...,
// "definition" in base64), zero fields omitted. Many racks share one
// cluster, each under its own prefix; no prefix may start with another's.
// A value that does not decode, or holds another image than its key says,
// is reported with ErrCorrupt naming the key; Put refuses strings that are
// not valid UTF-8 (JSON could not carry them unchanged).
//
// # Compare-and-swap and fencing
//
// The image's Generation is the fencing token. Put is one etcd
// transaction: if the key's mod revision is still the one whose value holds
// img.Generation, write the new value (Generation+1), else read the current
// value and answer ErrStaleGeneration. imagestore.Claim is one Put, so a
// claim is atomic: of any number of claims at one generation, from any
// process, at most one succeeds. A Store remembers the mod revision of each
// image it last read or wrote, so a Put after a Get or List takes one round
// trip; a Put of an image read elsewhere reads the key first.
//
// After restoring the etcd cluster from a backup, restart the processes
// using it: a restored cluster may hand out mod revisions again.
//
// # Lost answers
//
// A Put whose answer never arrived (the context's deadline, a cancellation
// after sending, a dropped connection, a leader change, a proposal timeout)
// may have been applied. Its error wraps failover.ErrOutcomeUnknown (and
// the underlying cause, such as context.DeadlineExceeded), never a plain
// failure: the caller reads the image back. The failover engine does so
// by claiming again at the generation it read: the retry fails as stale
// if the first claim was applied, and the image read back then names this
// server as owner. A write etcd refused for certain (request too large,
// no space, permission denied) is a plain error. Reads never are outcome
// unknown.
//
// # Clients
//
// New makes its own client from Config.Endpoints (and TLS, credentials)
// and Close closes it; or it uses Config.Client, which its caller keeps
// owning and closes after Close. Close any etcd watches and clients before
// closing an embedded etcd server. Credentials never appear in errors, in
// the Config's printed or logged forms.
//
// All methods of a *Store are safe for concurrent use.
package etcdstore
