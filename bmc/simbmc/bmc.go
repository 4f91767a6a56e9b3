package simbmc

import (
	"context"
	"fmt"
	"github.com/rackha/failover/clock"
	"sync"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// BMC is one simulated BMC. Create it with New.
type BMC struct {
	name    string
	clock   clock.Clock
	onPower func(bmc.PowerState)

	mu          sync.Mutex
	readings    []sensor.Reading // Time unset; Value as scripted
	index       map[string]int
	closed      bool
	unreachable bool
	power       bmc.PowerState
	stalePower  bmc.PowerState // reported instead of power until the next SetPower; PowerUnknown: none
	powerLost   bool           // main power gone: voltages read 0, power-on fails
	fault       bool
	detail      string
	failPower   error // next SetPower calls fail, action not carried out
	loseAnswer  error // next SetPower calls carry out the action, then fail
	events      []bmc.Event
	wd          wdState
}

var (
	_ bmc.BMC           = (*BMC)(nil)
	_ watchdog.Disarmer = (*BMC)(nil)
	_ sensor.Source     = (*BMC)(nil)
	_ bmc.HealthReader  = (*BMC)(nil)
	_ watchdog.Watchdog = (*BMC)(nil)
)

// New returns a BMC of a powered-on server with cfg's sensors. A nil
// cfg.Readings means DefaultReadings; an empty non-nil slice means none.
func New(cfg Config) (*BMC, error) {
	if cfg.Readings == nil {
		cfg.Readings = DefaultReadings()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	b := &BMC{
		name:     cfg.Name,
		clock:    cfg.Clock,
		onPower:  cfg.OnPower,
		readings: make([]sensor.Reading, len(cfg.Readings)),
		index:    make(map[string]int, len(cfg.Readings)),
		power:    bmc.PowerOn,
	}
	for i, r := range cfg.Readings {
		r.Time = time.Time{}
		if r.Status == sensor.StatusUnavailable {
			r.Value = 0
		}
		b.readings[i] = r
		b.index[r.Name] = i
	}
	return b, nil
}

// Name returns the server's name.
func (b *BMC) Name() string { return b.name }

// Close makes every later call fail with an error wrapping
// bmc.ErrUnreachable, as a closed session does.
func (b *BMC) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// enter locks b, applies a due watchdog expiry and checks that the BMC
// answers. On error the lock is released.
func (b *BMC) enter(ctx context.Context, op string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("simbmc %s: %s: %w", b.name, op, err)
	}
	b.mu.Lock()
	now := b.clock.Now()
	b.syncLocked(now)
	switch {
	case b.closed:
		b.mu.Unlock()
		return now, fmt.Errorf("simbmc %s: %s: BMC closed: %w", b.name, op, bmc.ErrUnreachable)
	case b.unreachable:
		b.mu.Unlock()
		return now, fmt.Errorf("simbmc %s: %s: no answer: %w", b.name, op, bmc.ErrUnreachable)
	}
	return now, nil
}

// Sync applies anything due by Clock.Now(): a watchdog expiry and its
// action. Every method does this first; a simulation calls Sync after
// advancing its clock so that the expiry action (and OnPower) happens even
// when nobody reads the BMC.
func (b *BMC) Sync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.syncLocked(b.clock.Now())
}

func (b *BMC) syncLocked(now time.Time) {
	b.wdSyncLocked(now)
}

// logLocked appends an event to the log Health drains.
func (b *BMC) logLocked(at time.Time, source, msg string, sev bmc.Severity) {
	b.events = append(b.events, bmc.Event{Time: at, Source: source, Message: msg, Severity: sev})
}

// Readings returns every sensor, stamped with Clock.Now(). Voltages read 0
// while main power is lost (LosePower). The slice is the caller's.
func (b *BMC) Readings(ctx context.Context) ([]sensor.Reading, error) {
	now, err := b.enter(ctx, "readings")
	if err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	out := make([]sensor.Reading, len(b.readings))
	for i, r := range b.readings {
		r.Time = now
		if b.powerLost && r.Kind == sensor.KindVoltage && r.Status == sensor.StatusOK {
			r.Value = 0
		}
		out[i] = r
	}
	return out, nil
}

// Health returns the blade's power, fault bits and the events logged since
// the previous Health call.
func (b *BMC) Health(ctx context.Context) (bmc.Health, error) {
	if _, err := b.enter(ctx, "health"); err != nil {
		return bmc.Health{}, err
	}
	defer b.mu.Unlock()
	h := bmc.Health{
		Power:          b.reportedLocked(),
		MainPowerFault: b.powerLost,
		Fault:          b.fault,
		Detail:         b.detail,
		Events:         b.events,
	}
	b.events = nil
	return h, nil
}
