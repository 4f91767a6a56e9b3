package watchdog

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// UpdaterConfig sets how an Updater keeps a watchdog alive.
type UpdaterConfig struct {
	// Timeout is the countdown armed on the BMC. Default 30 s: long enough
	// to ride out a busy host, short enough that a hang is caught quickly.
	Timeout time.Duration
	// Interval between kicks; must be shorter than Timeout. Default
	// Timeout/3, so two kicks may be lost before the timer expires.
	Interval time.Duration
	// Action the BMC takes on expiry. Default ActionPowerDown: an expired
	// server fences itself, which makes the peer's fence a read-back.
	Action Action
	// CallTimeout bounds each call to the BMC. Default Interval/2.
	CallTimeout time.Duration
	// Disarm on a clean stop, when the watchdog implements Disarmer.
	// Default true; without it a stopped updater reads as a hung server.
	Disarm bool
	// Logger receives kick failures. Default slog.Default().
	Logger *slog.Logger
}

// DefaultUpdaterConfig returns the defaults documented on UpdaterConfig.
func DefaultUpdaterConfig() UpdaterConfig {
	return UpdaterConfig{
		Timeout:     30 * time.Second,
		Interval:    10 * time.Second,
		Action:      ActionPowerDown,
		CallTimeout: 5 * time.Second,
		Disarm:      true,
		Logger:      slog.Default(),
	}
}

// Validate names the first field that is out of range.
func (c UpdaterConfig) Validate() error {
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("%w: UpdaterConfig.Timeout %v must be positive", ErrInvalidTimeout, c.Timeout)
	case c.Interval <= 0 || c.Interval >= c.Timeout:
		return fmt.Errorf("%w: UpdaterConfig.Interval %v must be positive and shorter than Timeout %v", ErrInvalidTimeout, c.Interval, c.Timeout)
	case c.CallTimeout <= 0:
		return fmt.Errorf("%w: UpdaterConfig.CallTimeout %v must be positive", ErrInvalidTimeout, c.CallTimeout)
	case c.Action > ActionPowerCycle:
		return fmt.Errorf("%w: UpdaterConfig.Action %v unknown", ErrInvalidTimeout, c.Action)
	}
	return nil
}

// Updater arms a watchdog and kicks it until stopped: the patent's watchdog
// updater. One Updater per watchdog; Run is not safe to call twice at once.
type Updater struct {
	w   Watchdog
	cfg UpdaterConfig
}

// NewUpdater checks cfg and returns an Updater for w.
func NewUpdater(w Watchdog, cfg UpdaterConfig) (*Updater, error) {
	if w == nil {
		return nil, fmt.Errorf("%w: nil Watchdog", ErrInvalidTimeout)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Updater{w: w, cfg: cfg}, nil
}

// Run arms the watchdog, then kicks it every Interval until ctx ends. A
// failed kick is logged and retried at the next tick; the error of the
// first Arm is returned at once. On ctx's end it disarms (if configured and
// supported) and returns nil.
func (u *Updater) Run(ctx context.Context) error {
	if err := u.call(ctx, func(c context.Context) error { return u.w.Arm(c, u.cfg.Timeout, u.cfg.Action) }); err != nil {
		return fmt.Errorf("watchdog: arm: %w", err)
	}
	t := time.NewTicker(u.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			u.stop()
			return nil
		case <-t.C:
			if err := u.call(ctx, u.w.Kick); err != nil {
				u.cfg.Logger.Warn("watchdog kick failed", "err", err)
			}
		}
	}
}

func (u *Updater) call(ctx context.Context, f func(context.Context) error) error {
	c, cancel := context.WithTimeout(ctx, u.cfg.CallTimeout)
	defer cancel()
	return f(c)
}

func (u *Updater) stop() {
	d, ok := u.w.(Disarmer)
	if !u.cfg.Disarm || !ok {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), u.cfg.CallTimeout)
	defer cancel()
	if err := d.Disarm(c); err != nil {
		u.cfg.Logger.Warn("watchdog disarm failed", "err", err)
	}
}
