package rackelect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/rack"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrHeld: a power action waited for an earlier leader's command that may
// still reach the BMC (Config.InFlightHold) and its context ended first.
// Nothing was sent, so the error does not wrap the context's.
var ErrHeld = errors.New("rackelect: power held for an earlier leader's command")

// Intent is the record a leader writes, in the same transaction as its
// leadership check, before it sends a power command; one key per server
// holds the latest. State is IntentPending until the call's outcome is
// written (again guarded).
type Intent struct {
	Server    string    `json:"server"`
	Action    string    `json:"action"`     // off, on, cycle
	Leader    string    `json:"leader"`     // the leader's Name
	LeaderRev int64     `json:"leader_rev"` // its leadership key's create revision
	Time      time.Time `json:"time"`       // the leader's clock, for people
	State     string    `json:"state"`      // pending, confirmed, failed, indeterminate
	Error     string    `json:"error,omitempty"`
}

// Intent states.
const (
	IntentPending       = "pending"
	IntentConfirmed     = "confirmed"
	IntentFailed        = "failed"
	IntentIndeterminate = "indeterminate"
)

func (e *Elector) intentKey(server string) string { return e.cfg.Prefix + "intent/" + server }

// Intents reads every server's latest intent.
func (e *Elector) Intents(ctx context.Context) ([]Intent, error) {
	c, cancel := context.WithTimeout(ctx, e.cfg.TxnTimeout)
	defer cancel()
	resp, err := e.cfg.Client.Get(c, e.cfg.Prefix+"intent/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("rackelect: read intents: %w", err)
	}
	var out []Intent
	for _, kv := range resp.Kvs {
		var in Intent
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			return nil, fmt.Errorf("rackelect: intent %q: %w", kv.Key, err)
		}
		out = append(out, in)
	}
	return out, nil
}

// firstRead holds power on each server whose latest intent is an earlier
// leader's, still pending: its command may be on its way to the BMC.
func (e *Elector) firstRead(ctx context.Context, t *Term) error {
	intents, err := e.Intents(ctx)
	if err != nil {
		return err
	}
	held := map[string]time.Time{}
	for _, in := range intents {
		if in.State == IntentPending && in.LeaderRev != t.Rev {
			until := t.Won.Add(e.cfg.InFlightHold)
			held[in.Server] = until
			e.cfg.Logger.Warn("rackelect: an earlier leader's power command has no outcome; holding power on its server",
				"server", in.Server, "action", in.Action, "by", in.Leader, "at", in.Time, "hold", e.cfg.InFlightHold)
		}
	}
	e.mu.Lock()
	e.held = held
	e.mu.Unlock()
	return nil
}

// guardedPut writes in if t's leadership key still exists with t's
// create revision, in one transaction; ok false means it does not (and
// ends t).
func (e *Elector) guardedPut(ctx context.Context, t *Term, in Intent) (ok bool, err error) {
	data, err := json.Marshal(in)
	if err != nil {
		return false, err
	}
	c, cancel := context.WithTimeout(ctx, e.cfg.TxnTimeout)
	defer cancel()
	resp, err := e.cfg.Client.Txn(c).
		If(clientv3.Compare(clientv3.CreateRevision(t.Key), "=", t.Rev)).
		Then(clientv3.OpPut(e.intentKey(in.Server), string(data))).
		Commit()
	if err != nil {
		return false, err
	}
	if !resp.Succeeded {
		t.end()
	}
	return resp.Succeeded, nil
}

// Guarded carries out send, the power command of action on server, only
// as the leader: first a transaction that checks this replica's
// leadership key and writes the intent; send runs only if it succeeded.
// Then a second such transaction writes the outcome.
//
// Errors: not the leader (never elected, or the key is gone) wraps
// rack.ErrNotLeader; etcd not answering the first transaction wraps
// rack.ErrNotLeader too (leadership unconfirmed); both mean nothing was
// sent. A hold that outlasts ctx wraps ErrHeld. When the second
// transaction fails (the key went away, or etcd did not answer), the
// leadership may have been lost during the call and another replica may
// have acted on the server since: the error wraps bmc.ErrIndeterminate,
// whatever send returned.
func (e *Elector) Guarded(ctx context.Context, server string, action bmc.PowerAction, send func(context.Context) error) error {
	e.mu.Lock()
	t := e.term
	until, held := e.held[server]
	e.mu.Unlock()
	if t == nil {
		return fmt.Errorf("rackelect: power %s %q not sent: %s has never led: %w", action, server, e.cfg.Name, rack.ErrNotLeader)
	}
	if held {
		if err := waitHold(ctx, until); err != nil {
			// Not %w for err: a deadline here is no indeterminate outcome.
			return fmt.Errorf("rackelect: power %s %q not sent: held until %s for an earlier leader's command (%v): %w",
				action, server, until.Format(time.RFC3339Nano), err, ErrHeld)
		}
		e.mu.Lock()
		if e.held[server].Equal(until) {
			delete(e.held, server)
		}
		e.mu.Unlock()
	}
	in := Intent{Server: server, Action: action.String(), Leader: e.cfg.Name, LeaderRev: t.Rev, Time: time.Now(), State: IntentPending}
	ok, err := e.guardedPut(ctx, t, in)
	if err != nil {
		return fmt.Errorf("rackelect: power %s %q not sent: leadership not confirmed in etcd: %w: %w", action, server, rack.ErrNotLeader, err)
	}
	if !ok {
		return fmt.Errorf("rackelect: power %s %q not sent: %s no longer leads (its key %s of revision %d is gone): %w",
			action, server, e.cfg.Name, t.Key, t.Rev, rack.ErrNotLeader)
	}
	sendErr := send(ctx)
	in.Time, in.State, in.Error = time.Now(), IntentConfirmed, ""
	if sendErr != nil {
		in.State, in.Error = IntentFailed, sendErr.Error()
		if errors.Is(sendErr, bmc.ErrIndeterminate) {
			in.State = IntentIndeterminate
		}
	}
	// The outcome is written even when the caller has gone.
	ok, err = e.guardedPut(context.WithoutCancel(ctx), t, in)
	if err != nil || !ok {
		why := "its key is gone"
		if err != nil {
			why = "etcd did not confirm it: " + err.Error()
		}
		return fmt.Errorf("rackelect: power %s %q: leadership lost during the call (%s); another rack manager may have acted on the server since (the BMC answered: %v): %w",
			action, server, why, sendErr, bmc.ErrIndeterminate)
	}
	return sendErr
}

func waitHold(ctx context.Context, until time.Time) error {
	d := time.Until(until)
	if d <= 0 {
		return nil
	}
	return sleep(ctx, d)
}

// Guard returns p with every SetPower guarded (see Guarded); PowerState
// reads p directly. Give rack.Local each server's guarded Power, so
// that nothing powers a server past the guard.
func (e *Elector) Guard(server string, p bmc.Power) bmc.Power {
	return &guardedPower{e: e, server: server, p: p}
}

type guardedPower struct {
	e      *Elector
	server string
	p      bmc.Power
}

func (g *guardedPower) SetPower(ctx context.Context, action bmc.PowerAction) error {
	return g.e.Guarded(ctx, g.server, action, func(ctx context.Context) error { return g.p.SetPower(ctx, action) })
}

func (g *guardedPower) PowerState(ctx context.Context) (bmc.PowerState, error) {
	return g.p.PowerState(ctx)
}
