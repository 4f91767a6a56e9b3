package main

import (
	"context"

	"github.com/rackha/failover"
)

// settle waits, for settleWait at most, until the timeline has an event
// of type typ about server since the last fault, or a background part of
// the example fails.
func settle(ctx context.Context, tl *failover.Timeline, server string, typ failover.EventType, bgErr <-chan error) error {
	c, cancel := context.WithTimeout(ctx, settleWait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tl.WaitFor(c, server, typ) }()
	select {
	case err := <-done:
		return err
	case err := <-bgErr:
		cancel()
		<-done
		return err
	}
}
