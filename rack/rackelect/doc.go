// Package rackelect lets two or more rack manager replicas elect one
// leader through etcd (concurrency.Election), and guards every power
// action so that a deposed leader never powers a server.
//
// An Elector campaigns with its replica's URL as the value of its
// leadership key, a key under Config.Prefix+"leader/" bound to a session
// lease of Config.TTL. The leader is the candidate whose key has the
// lowest create revision. Campaign returns a Term. Its Done closes when
// the session ends (a crash or a partition lasts past the TTL), when the
// replica resigns, or when a guarded transaction finds the key gone.
// Only the leader should poll BMCs, power servers and serve status
// streams. Followers learn the leader's URL from Leader, to send monitors
// on (see rack/rackhttp).
//
// # The power guard
//
// Guarded, and Guard for a bmc.Power, carries out each power action in
// three steps:
//
//  1. Txn If(create_revision(my leadership key) == my term's revision)
//     Then Put(Prefix+"intent/"+server, {server, action, leader, time, state: pending})
//  2. only if that Txn succeeded: send the command to the BMC
//  3. the same Txn again, writing the outcome (confirmed, failed, indeterminate)
//
// Why this is enough. A key's create revision changes only when the key
// is deleted and made again. So when the Txn succeeds, this term's key
// has existed without a break since the term began. No other candidate
// can lead while it exists, because a later candidate's key has a higher
// create revision. The check and the intent are one transaction, so no
// new leader can come between them. A deposed leader (its lease expired,
// however long it took to notice) fails the compare and refuses. A leader
// that cannot reach etcd cannot run the Txn and refuses too. Neither sends
// anything, and both errors wrap rack.ErrNotLeader. Its own belief
// (IsLeader, Term.Done) is never what allows a power command. When step 3
// fails, the leadership may have ended during the call and a new leader
// may have acted since. Then the result wraps bmc.ErrIndeterminate: the
// caller reads the state back through the new leader rather than trust
// an answer from an old term.
//
// The limit. The guard orders the decisions to send, not the packets.
// Say a leader passes step 1, then loses its lease while the command is
// on the wire, or while an adapter is still inside a cycle's off-then-on.
// That command can reach the BMC after a new leader was elected. The
// intent record tells the new leader about it. In its first read (in
// Campaign, before it returns) the new leader reads every intent. For a
// server whose latest intent is an earlier leader's, still pending (the
// old leader never wrote an outcome), it holds its own power actions for
// Config.InFlightHold after it won. A held action waits; if its context
// ends first, it fails with ErrHeld, and nothing is sent. The old call
// started before the new leader won and ended within the old leader's
// power timeout, so InFlightHold set to that timeout covers the command
// in flight. This assumes the replicas' clocks run at nearly the same
// rate, and that no command lingers in the network longer than the power
// timeout. After the hold, the adapter's read-back (bmc.Power) shows the
// state the server is really in. Intents that have an outcome hold
// nothing.
//
// Cost: two etcd transactions per power action (one write each); see
// BenchmarkGuardedPower next to BenchmarkUnguardedPower.
//
// Concurrency: every method of Elector, and the bmc.Power Guard returns,
// is safe to call from any goroutine.
package rackelect
