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
	r.mu.Lock()
	epoch := r.epoch
	r.mu.Unlock()

	err := r.next.RoundTrip(ctx, req, res)
	if err == nil || !isNotAuthenticated(err) || isLoginCall(req) {
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

// keepAlive calls CurrentTime every interval until stop is closed. A
// NotAuthenticated answer goes through relogin like any other call, so the
// session comes back by itself.
func keepAlive(c *vim25.Client, interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			_, _ = methods.GetCurrentTime(ctx, c)
			cancel()
		}
	}
}

// userSession reports whether the current session is alive.
func userSession(ctx context.Context, c *vim25.Client) (*types.UserSession, error) {
	return session.NewManager(c).UserSession(ctx)
}
