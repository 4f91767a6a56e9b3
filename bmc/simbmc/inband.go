package simbmc

import (
	"fmt"

	"github.com/rackha/failover/watchdog"
)

// KickInBand kicks the watchdog from the server itself, over the system
// interface (IPMI KCS, /dev/ipmi0) rather than the network: it works while
// the BMC is unreachable from the LAN (SetUnreachable), as on real servers
// whose management network is down.
func (b *BMC) KickInBand() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.syncLocked(now)
	if b.closed {
		return fmt.Errorf("simbmc %s: in-band kick: BMC closed", b.name)
	}
	if !b.wd.armed {
		return fmt.Errorf("simbmc %s: in-band kick: %w", b.name, watchdog.ErrNotArmed)
	}
	b.wd.running, b.wd.deadline = true, now.Add(b.wd.timeout)
	return nil
}
