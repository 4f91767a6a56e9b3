package vspherehv

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// relogin is a soap.RoundTripper that logs in again when vCenter answers
// NotAuthenticated (the session expired or was terminated) and retries the
// call once. The call was not carried out when that fault came back, so the
// retry is safe for every method.
type relogin struct {
	next  soap.RoundTripper
	login func(context.Context) error

	mu      sync.Mutex
	epoch   uint64 // incremented by every successful login
	logins  uint64 // count of re-logins, for tests
	lastErr error
}

func (r *relogin) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	if isLoginCall(req) {
		return r.next.RoundTrip(ctx, req, res) // reauth holds mu around login
	}
	epoch := r.current()
	err := r.next.RoundTrip(ctx, req, res)
	if !isNotAuthenticated(err) && !(err == nil && missingAuth(res)) {
		return err
	}
	if lerr := r.reauth(ctx, epoch); lerr != nil {
		return lerr
	}
	resetBody(res)
	return r.next.RoundTrip(ctx, req, res)
}

// reauth logs in once per expired epoch, however many calls saw the fault.
func (r *relogin) reauth(ctx context.Context, seen uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epoch != seen {
		return r.lastErr // another call logged in already
	}
	err := r.login(ctx)
	r.lastErr = err
	if err == nil {
		r.epoch++
		r.logins++
	}
	return err
}

func (r *relogin) current() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epoch
}

func (r *relogin) count() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logins
}

func isLoginCall(req soap.HasFault) bool {
	switch req.(type) {
	case *methods.LoginBody, *methods.LogoutBody:
		return true
	}
	return false
}

// missingAuth reports a property retrieval whose properties all came back
// missing with NotAuthenticated: how the PropertyCollector answers a
// session that is gone, instead of a fault.
func missingAuth(res soap.HasFault) bool {
	var objs []types.ObjectContent
	switch r := res.(type) {
	case *methods.RetrievePropertiesBody:
		if r.Res != nil {
			objs = r.Res.Returnval
		}
	case *methods.RetrievePropertiesExBody:
		if r.Res != nil && r.Res.Returnval != nil {
			objs = r.Res.Returnval.Objects
		}
	case *methods.ContinueRetrievePropertiesExBody:
		if r.Res != nil {
			objs = r.Res.Returnval.Objects
		}
	}
	for _, o := range objs {
		for _, m := range o.MissingSet {
			if _, ok := m.Fault.Fault.(*types.NotAuthenticated); ok {
				return true
			}
		}
	}
	return false
}

func isNotAuthenticated(err error) bool {
	_, ok := faultOf(err).(*types.NotAuthenticated)
	return ok
}

// resetBody zeroes a response body so a retry decodes into a clean value.
func resetBody(res soap.HasFault) {
	v := reflect.ValueOf(res)
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().CanSet() {
		v.Elem().Set(reflect.Zero(v.Elem().Type()))
	}
}

// keepAlive reads the current session every interval until stop is
// closed. That call keeps the session from idling out; when it finds no
// session (vCenter dropped it), it logs in again at once.
func keepAlive(c *vim25.Client, rl *relogin, interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), max(interval, 10*time.Second))
			epoch := rl.current()
			if us, err := userSession(ctx, c); err == nil && us == nil {
				_ = rl.reauth(ctx, epoch)
			}
			cancel()
		}
	}
}

// userSession reports whether the current session is alive.
func userSession(ctx context.Context, c *vim25.Client) (*types.UserSession, error) {
	return session.NewManager(c).UserSession(ctx)
}
