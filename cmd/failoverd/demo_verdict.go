package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rackha/failover"
)

// verdict checks what the issue asks and says so: every VM runs exactly
// once, none ever ran twice, and every decision came from a monitor
// process, not the rack manager's.
func (d *demo) verdict(ctx context.Context) error {
	time.Sleep(4 * demoPoll)
	n, err := d.hw.check(ctx)
	evs, bad, werr := d.log.snapshot()
	if err == nil && len(bad) > 0 {
		err = fmt.Errorf("%d lines from the processes did not decode, the first: %q", len(bad), bad[0])
	}
	if err == nil {
		err = werr
	}
	pids := map[int]bool{}
	d.mu.Lock()
	for _, p := range d.rmPIDs {
		for _, e := range evs {
			if e.PID == p && err == nil {
				err = fmt.Errorf("event %v came from the rack manager (pid %d)", e.Ev, p)
			}
		}
	}
	d.mu.Unlock()
	alerts := 0
	for _, e := range evs {
		pids[e.PID] = true
		if e.Ev.Type == failover.EventAlert {
			alerts++
		}
	}
	if err != nil {
		d.log.note("result", "FAILED: "+err.Error(), map[string]any{"ok": false})
		return err
	}
	var list []int
	for p := range pids {
		list = append(list, p)
	}
	slices.Sort(list)
	msg := fmt.Sprintf("all four failures handled; every one of the %d VMs runs exactly once, none ever ran twice; %d events decided by %d monitor processes (pids %s), none by the rack manager",
		n, len(evs), len(list), strings.Trim(fmt.Sprint(list), "[]"))
	if alerts > 0 {
		msg += fmt.Sprintf("; %d alerts, each shown above", alerts)
	}
	d.log.header("\n")
	d.mu.Lock()
	rmPIDs := slices.Clone(d.rmPIDs)
	d.mu.Unlock()
	var ms []int64
	var parts []string
	for i, dur := range d.log.faultToBackups() {
		ms = append(ms, dur.Milliseconds())
		parts = append(parts, fmt.Sprintf("%s %v", demoPlan[i], dur.Round(time.Millisecond)))
	}
	msg += "; fault to all backups running: " + strings.Join(parts, ", ")
	d.log.note("result", msg, map[string]any{"ok": true, "vm_count": n, "events": len(evs), "monitor_pids": list, "rack_manager_pids": rmPIDs,
		"fault_to_backups_ms": ms})
	return nil
}
