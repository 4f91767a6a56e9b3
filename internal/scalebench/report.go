package scalebench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// CPUPerBMC is the rack managers' CPU time per BMC per second of the
// steady window: 1 ms means each BMC costs 0.1 % of one core.
func (r *Result) CPUPerBMC() time.Duration {
	if r.Steady.Duration <= 0 || r.Config.BMCs() == 0 {
		return 0
	}
	perSecond := r.Steady.RackManagersCPU().Seconds() / r.Steady.Duration.Seconds()
	return time.Duration(perSecond / float64(r.Config.BMCs()) * float64(time.Second))
}

// Report is the figures as text, one per line.
func (r *Result) Report() string {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "setup: %d failoverd rack-manager processes x %d simulated BMCs = %d BMCs (ring per rack, default 1 s full / 250 ms fast polls);\n",
		c.Racks, c.ServersPerRack, c.BMCs())
	fmt.Fprintf(&b, "       one etcd-server %s process (image store, a prefix per rack); %d monitors as goroutines of the benchmark process; %d VMs\n",
		r.EtcdVersion, c.BMCs(), c.BMCs()*c.VMsPerServer)
	s := r.Steady
	fmt.Fprintf(&b, "steady window %v:\n", s.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "  rack managers: %.3f cores together (%s); per BMC %v CPU per second (%.3f %% of a core)\n",
		s.cores(s.RackManagersCPU()), coresEach(s), r.CPUPerBMC().Round(time.Microsecond), 100*r.CPUPerBMC().Seconds())
	fmt.Fprintf(&b, "  etcd: %.3f cores; %.1f requests/s%s\n", s.cores(s.EtcdCPU), s.EtcdRequestsPerSecond(), byMethod(s))
	fmt.Fprintf(&b, "  benchmark process (simulators + monitors): %.3f cores; %.0f statuses/s delivered to monitors\n",
		s.cores(s.HarnessCPU), float64(s.Statuses)/s.Duration.Seconds())
	fmt.Fprintf(&b, "  oldest newest journaled status at the end: %v\n", r.StatusAge.Round(time.Millisecond))
	f := r.Takeover
	fmt.Fprintf(&b, "takeover: %d servers lost main power at once, %d VMs; window %v until the last backup ran\n",
		c.Failing, c.Failing*c.VMsPerServer, f.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "  fault -> backup running: p50 %v, p99 %v, max %v (%d VMs timed)\n",
		r.Percentile(50).Round(time.Millisecond), r.Percentile(99).Round(time.Millisecond),
		r.Percentile(100).Round(time.Millisecond), len(r.FaultToRunning))
	fmt.Fprintf(&b, "  rack managers %.3f cores, etcd %.3f cores, benchmark process %.3f cores; etcd %.0f requests (%.1f/s)%s\n",
		f.cores(f.RackManagersCPU()), f.cores(f.EtcdCPU), f.cores(f.HarnessCPU), f.EtcdRequests.total(), f.EtcdRequestsPerSecond(), byMethod(f))
	return b.String()
}

func coresEach(w Window) string {
	var parts []string
	for _, c := range w.RackManagerCPU {
		parts = append(parts, fmt.Sprintf("%.3f", w.cores(c)))
	}
	return "each " + strings.Join(parts, ", ")
}

// byMethod lists the request counts per method, largest first.
func byMethod(w Window) string {
	if len(w.EtcdRequests) == 0 {
		return ""
	}
	var methods []string
	for m := range w.EtcdRequests {
		methods = append(methods, m)
	}
	slices.SortFunc(methods, func(a, b string) int {
		if d := w.EtcdRequests[b] - w.EtcdRequests[a]; d != 0 {
			if d > 0 {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, m := range methods {
		parts = append(parts, fmt.Sprintf("%s %.0f", m, w.EtcdRequests[m]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
