package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rackha/failover"
)

// BenchmarkFenceToBackups runs the whole example and reports, for the
// blade fault (fault 2), the time from the Monitor's "fenced" event to its
// last "backup-started": every VM the fenced blade ran (its own and those
// evacuated to it in fault 1, so 2 x vms/blade) claimed in the store and
// started on the peer's ESXi host through vCenter. It also reports fault 1's
// "evacuating" to last resumed VM (suspend on a, resume on b, vms/blade
// VMs). One op is one run of the example.
//
//	go test -run '^$' -bench FenceToBackups -benchtime 1x -count 3 ./examples/redfish-vsphere
func BenchmarkFenceToBackups(b *testing.B) {
	dir, err := mockupDirOrErr()
	if err != nil {
		b.Skip(err)
	}
	for _, perBlade := range []int{1, 5, 25} {
		b.Run(fmt.Sprintf("takeover=%dVMs", 2*perBlade), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				var out bytes.Buffer
				err := run(ctx, &out, dir, perBlade, true)
				cancel()
				if err != nil {
					b.Fatalf("run: %v", err)
				}
				fence, evac, n := spans(b, &out)
				if n != 2*perBlade {
					b.Fatalf("%d backups after the fence, want %d", n, 2*perBlade)
				}
				b.ReportMetric(float64(fence.Microseconds())/1000, "ms-fence-to-all-running")
				b.ReportMetric(float64(evac.Microseconds())/1000, "ms-evacuation")
			}
		})
	}
}

// spans reads the -json output: fault 2's fenced -> last backup-started,
// fault 1's evacuating -> last backup-started, and fault 2's backup count.
func spans(b *testing.B, out *bytes.Buffer) (fence, evac time.Duration, n int) {
	b.Helper()
	var faults int
	var evacStart, fenced, last1, last2 time.Time
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var raw map[string]any
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			b.Fatal(err)
		}
		if raw["type"] == "fault" {
			faults++
			continue
		}
		var ev failover.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			b.Fatal(err)
		}
		switch {
		case faults == 1 && ev.Type == failover.EventEvacuating:
			evacStart = ev.Time
		case faults == 1 && ev.Type == failover.EventBackupStarted:
			last1 = ev.Time
		case faults == 2 && ev.Type == failover.EventFenced:
			fenced = ev.Time
		case faults == 2 && ev.Type == failover.EventBackupStarted:
			last2 = ev.Time
			n++
		}
	}
	return last2.Sub(fenced), last1.Sub(evacStart), n
}
