package redfishbmc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/stmcginnis/gofish"

	"github.com/rackha/failover/bmc"
)

// resetType picks the reset type for action among those the system
// allows (all, when it lists none).
func resetType(action bmc.PowerAction, allowed []string, cur bmc.PowerState) (string, error) {
	var prefs []string
	switch action {
	case bmc.PowerActionOff:
		prefs = []string{"ForceOff"}
	case bmc.PowerActionOn:
		prefs = []string{"On", "ForceOn"}
	case bmc.PowerActionCycle:
		prefs = []string{"PowerCycle", "ForceRestart"}
		if cur == bmc.PowerOff {
			prefs = []string{"On", "ForceOn"} // restarting an off system is powering it on
		}
	default:
		return "", fmt.Errorf("%w: power action %v", bmc.ErrUnsupported, action)
	}
	for _, p := range prefs {
		if len(allowed) == 0 || slices.Contains(allowed, p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: power %v needs one of %v, the system allows %v", bmc.ErrUnsupported, action, prefs, allowed)
}

// SetPower posts ComputerSystem.Reset to the advertised target and reads
// PowerState back every Config.PowerPollInterval until it agrees or ctx
// ends (then the error wraps bmc.ErrIndeterminate). The power-off is
// sent even when the system already reads off: a stale or wrong
// PowerState must not both skip the fence and confirm it. A refused
// request (409 "already off", ...) is success when the read-back agrees.
func (b *BMC) SetPower(ctx context.Context, action bmc.PowerAction) error {
	if action < bmc.PowerActionOff || action > bmc.PowerActionCycle {
		return fmt.Errorf("%w: power action %v", bmc.ErrUnsupported, action)
	}
	d, err := b.readSystem(ctx)
	if err != nil {
		return err
	}
	cur := powerState(d.PowerState)
	want := bmc.PowerOn
	if action == bmc.PowerActionOff {
		want = bmc.PowerOff
	}
	if d.Actions.Reset == nil || d.Actions.Reset.Target == "" {
		return fmt.Errorf("%w: system %s advertises no ComputerSystem.Reset", bmc.ErrUnsupported, b.sys.Path)
	}
	rt, err := resetType(action, d.Actions.Reset.Allowed, cur)
	if err != nil {
		return err
	}
	target, err := b.link(d.Actions.Reset.Target)
	if err != nil {
		return err
	}
	perr := b.postReset(ctx, target, rt)
	if perr != nil && !errors.Is(perr, bmc.ErrIndeterminate) {
		// Refused or never sent: the state may already be right (a 409
		// on a system that is already off).
		if st, err := b.PowerState(ctx); err == nil && st == want && action != bmc.PowerActionCycle {
			return nil
		}
		return perr
	}
	last, seen := bmc.PowerUnknown, false
	for {
		st, err := b.PowerState(ctx)
		if err == nil && st == want {
			return nil
		}
		if err == nil {
			last, seen = st, true
		}
		if serr := b.sleep(ctx, b.cfg.PowerPollInterval); serr != nil {
			why := "no read-back succeeded"
			if seen {
				why = fmt.Sprintf("last read-back says %v", last)
			}
			if perr != nil {
				why = perr.Error() + "; " + why
			}
			return fmt.Errorf("%w: %s %s (%s) not confirmed: %s", bmc.ErrIndeterminate, rt, b.sys.Path, action, why)
		}
	}
}

// postReset sends the reset. A lost answer wraps bmc.ErrIndeterminate; a
// request that provably never reached the service wraps ErrUnreachable.
func (b *BMC) postReset(ctx context.Context, target, rt string) error {
	rctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	resp, err := b.do(rctx, func(api *gofish.APIClient) (*http.Response, error) {
		return api.Post(target, map[string]string{"ResetType": rt})
	})
	if err == nil {
		resp.Body.Close()
		return nil
	}
	code := httpStatus(err)
	switch {
	case code == http.StatusBadRequest || code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented:
		return fmt.Errorf("%w: POST %s ResetType %s: HTTP %d: %s", bmc.ErrUnsupported, target, rt, code, trunc(errMessage(err)))
	case code >= 500:
		// The service failed while handling it: it may have acted.
		return fmt.Errorf("%w: POST %s ResetType %s: HTTP %d: %s", bmc.ErrIndeterminate, target, rt, code, trunc(errMessage(err)))
	case code != 0:
		return classify("POST "+rt+" to", target, err)
	case notSent(err):
		return classify("POST "+rt+" to", target, err)
	}
	return fmt.Errorf("%w: POST %s ResetType %s: answer lost: %v", bmc.ErrIndeterminate, target, rt, err)
}

// notSent reports an error that happened before the request was written:
// dialing or the TLS handshake failed.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return isTLSTrustError(err) || errors.Is(err, bmc.ErrUnreachable)
}
