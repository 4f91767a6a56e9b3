// Package watchdog describes a server's BMC watchdog timer: the server arms it
// and keeps kicking it; when the server hangs and the kicks stop, the timer
// expires, the BMC carries out its expiry action, and the watching peer sees
// the expiry and takes over.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Action is what the BMC does when the timer expires.
type Action uint8

// Expiry actions.
const (
	ActionNone Action = iota
	ActionHardReset
	ActionPowerDown
	ActionPowerCycle
)

var actionNames = [...]string{"none", "hard-reset", "power-down", "power-cycle"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// ParseAction is the inverse of Action.String.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("unknown watchdog action %q (want none, hard-reset, power-down or power-cycle)", s)
}

// State is a watchdog's state as read from the BMC.
type State struct {
	// Running: the countdown is going. Some BMCs never report it (ipmi_sim);
	// adapters then derive it from Remaining.
	Running bool
	// Expired: the timer ran out since it was last armed.
	Expired   bool
	Timeout   time.Duration
	Remaining time.Duration
	Action    Action
}

// Sentinel errors.
var (
	ErrNotArmed       = errors.New("failover: watchdog not armed")
	ErrInvalidTimeout = errors.New("failover: invalid watchdog timeout")
)

// Watchdog is one server's BMC watchdog timer.
//
// All methods must be safe to call from several goroutines. Arm sets the
// timeout and the expiry action, clears the expiry flag and starts the
// countdown; Kick restarts the countdown from the timeout (ErrNotArmed if
// it was never armed); State reads the timer back from the BMC.
type Watchdog interface {
	Arm(ctx context.Context, timeout time.Duration, action Action) error
	Kick(ctx context.Context) error
	State(ctx context.Context) (State, error)
}

// Disarmer is implemented by watchdogs that can be stopped. Updater.Run
// disarms on a clean stop when it can; without it the timer is left armed
// and expires after its timeout, which the peer will treat as a failure.
type Disarmer interface {
	Disarm(ctx context.Context) error
}
