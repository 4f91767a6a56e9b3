package scalebench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rackha/failover"
)

// sample is a snapshot of the counters a window is the difference of.
type sample struct {
	at          time.Time
	rackManager []time.Duration // CPU time of each rack-manager process
	procCalls   []float64       // BMC calls of each, so far
	etcd        time.Duration   // CPU time of the etcd process
	self        time.Duration   // CPU time of this process
	requests    counts
	bmcCalls    counts // every rack manager's, by call
	statuses    int64  // delivered to the monitors so far
	events      map[failover.EventType]int
}

// Window is what one stretch of the run cost.
type Window struct {
	Duration time.Duration
	// RackManagerCPU is each rack-manager process's CPU time (user +
	// system, /proc/PID/stat) over the window, rack by rack, replica by
	// replica; RackManagerNames names them ("rack manager 1.2") and
	// Polling says which made BMC calls in the window (the leaders).
	RackManagerCPU   []time.Duration
	RackManagerNames []string
	Polling          []bool
	// EtcdCPU is the etcd process's CPU time.
	EtcdCPU time.Duration
	// HarnessCPU is this process's: every simulated BMC and hypervisor
	// and their unix-socket servers, every monitor and its TLS client.
	HarnessCPU time.Duration
	// EtcdRequests is per gRPC method the request messages etcd
	// received (grpc_server_msg_received_total).
	EtcdRequests counts
	// BMCCalls is the rack managers' BMC calls by call (health,
	// readings, watchdog_state, power_state, set_power), from their own
	// failover_bmc_call_duration_seconds histograms.
	BMCCalls counts
	// Statuses is how many statuses the monitors' watch streams
	// delivered.
	Statuses int64
	// Events is the monitors' events by type.
	Events map[failover.EventType]int
}

// takeSample reads every counter. The rack managers' /metrics (a few
// hundred kilobytes each at full size) are read before the CPU times
// when a window starts and after them when it ends, so that no scrape
// is counted in a window.
func takeSample(ctx context.Context, procs []*rmProc, etcdPid int, etcdEndpoint string, ms *monitors, start bool) (sample, error) {
	var s sample
	if start {
		if err := s.scrapeRackManagers(ctx, procs); err != nil {
			return sample{}, err
		}
	}
	s.at, s.statuses, s.events = time.Now(), ms.statuses.Load(), ms.events.snapshot()
	for _, p := range procs {
		cpu, err := cpuTime(p.pid())
		if err != nil {
			return sample{}, fmt.Errorf("%s: %w", p.name(), err)
		}
		s.rackManager = append(s.rackManager, cpu)
	}
	var err error
	if s.etcd, err = cpuTime(etcdPid); err != nil {
		return sample{}, fmt.Errorf("etcd: %w", err)
	}
	if s.self, err = cpuTime(0); err != nil {
		return sample{}, err
	}
	if s.requests, err = scrapeEtcd(ctx, etcdEndpoint); err != nil {
		return sample{}, err
	}
	if !start {
		if err := s.scrapeRackManagers(ctx, procs); err != nil {
			return sample{}, err
		}
	}
	return s, nil
}

func (s *sample) scrapeRackManagers(ctx context.Context, procs []*rmProc) error {
	s.bmcCalls, s.procCalls = counts{}, nil
	for _, p := range procs {
		var c counts
		err := scrape(ctx, p.metrics, func(r io.Reader) (err error) {
			c, err = parseBMCCalls(r)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", p.name(), err)
		}
		for k, v := range c {
			s.bmcCalls[k] += v
		}
		s.procCalls = append(s.procCalls, c.total())
	}
	return nil
}

// window is what happened between a and b.
func window(a, b sample, procs []*rmProc) Window {
	w := Window{Duration: b.at.Sub(a.at), EtcdCPU: b.etcd - a.etcd, HarnessCPU: b.self - a.self,
		EtcdRequests: b.requests.since(a.requests), BMCCalls: b.bmcCalls.since(a.bmcCalls),
		Statuses: b.statuses - a.statuses, Events: eventsSince(a.events, b.events)}
	for i, p := range procs {
		w.RackManagerCPU = append(w.RackManagerCPU, b.rackManager[i]-a.rackManager[i])
		w.RackManagerNames = append(w.RackManagerNames, p.name())
		w.Polling = append(w.Polling, b.procCalls[i] > a.procCalls[i])
	}
	return w
}

// RackManagersCPU is the rack-manager processes' CPU time together.
func (w Window) RackManagersCPU() time.Duration {
	var t time.Duration
	for _, c := range w.RackManagerCPU {
		t += c
	}
	return t
}

// cores is CPU time per wall-clock time: 1 is one core busy.
func (w Window) cores(cpu time.Duration) float64 {
	if w.Duration <= 0 {
		return 0
	}
	return cpu.Seconds() / w.Duration.Seconds()
}

// EtcdRequestsPerSecond is every request message etcd received, per
// second of the window.
func (w Window) EtcdRequestsPerSecond() float64 {
	if w.Duration <= 0 {
		return 0
	}
	return w.EtcdRequests.total() / w.Duration.Seconds()
}
