package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/rack/rackhttp"
)

// reportEvents returns an OnEvent that, when mgr is the rack manager
// over the network, also reports each event to it (for its page and
// metrics) from a goroutine of its own, so that a slow rack manager
// never holds the monitor: a full queue drops the event, logged. It
// calls next first. The goroutine ends with ctx.
func reportEvents(ctx context.Context, mgr rack.Manager, log *slog.Logger, next func(failover.Event)) func(failover.Event) {
	c, ok := mgr.(*rackhttp.Client)
	if !ok {
		return next
	}
	queue := make(chan failover.Event, 256)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-queue:
				if err := report(ctx, c, ev); err != nil && ctx.Err() == nil {
					log.Warn("failoverd: event not reported to the rack manager (its page misses it)", "type", ev.Type, "err", err)
				}
			}
		}
	}()
	return func(ev failover.Event) {
		next(ev)
		select {
		case queue <- ev:
		default:
			log.Warn("failoverd: event report queue full; event not reported to the rack manager", "type", ev.Type)
		}
	}
}

// report sends ev, again after a pause while the rack manager's rate
// limit refuses it (a takeover of many VMs is a burst of events).
func report(ctx context.Context, c *rackhttp.Client, ev failover.Event) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = c.Report(rctx, ev)
		cancel()
		if !errors.Is(err, rackhttp.ErrRateLimited) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
	return err
}
