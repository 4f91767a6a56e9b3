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
	fmt.Fprintf(&b, "setup: %d racks x %d simulated BMCs = %d BMCs (ring per rack, default 1 s full / 250 ms fast polls), each rack polled by one\n",
		c.Racks, c.ServersPerRack, c.BMCs())
	if c.Replicas > 1 {
		fmt.Fprintf(&b, "       `failoverd rack-manager` process, the elected leader of %d replicas (etcd election; the others stand by);\n", c.Replicas)
	} else {
		fmt.Fprintf(&b, "       `failoverd rack-manager` process (no election);\n")
	}
	leases := "no leases"
	if c.Leases {
		leases = fmt.Sprintf("each holding an etcd lease (TTL %v) that gates its BMC watchdog (%v)", c.LeaseTTL, c.WatchdogTimeout)
	}
	fmt.Fprintf(&b, "       one etcd-server %s process (image store, a prefix per rack); %d monitors as goroutines of the benchmark process, %s; %d VMs\n",
		r.EtcdVersion, c.BMCs(), leases, c.BMCs()*c.VMsPerServer)
	s := r.Steady
	fmt.Fprintf(&b, "steady window %v:\n", s.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "  rack managers: %.3f cores together; per BMC %v CPU per second (%.3f %% of a core)\n",
		s.cores(s.RackManagersCPU()), r.CPUPerBMC().Round(time.Microsecond), 100*r.CPUPerBMC().Seconds())
	fmt.Fprintf(&b, "    %s\n", coresEach(s))
	fmt.Fprintf(&b, "  etcd: %.3f cores; %.1f requests/s%s\n", s.cores(s.EtcdCPU), s.EtcdRequestsPerSecond(), byMethod(s))
	fmt.Fprintf(&b, "  benchmark process (simulators + monitors): %.3f cores; %.0f statuses/s delivered to monitors\n",
		s.cores(s.HarnessCPU), float64(s.Statuses)/s.Duration.Seconds())
	fmt.Fprintf(&b, "  BMC calls: %.0f/s per BMC%s; oldest newest journaled status at the end: %v\n",
		s.BMCCalls.total()/s.Duration.Seconds()/float64(c.BMCs()), perSecond(s.BMCCalls, s.Duration), r.StatusAge.Round(time.Millisecond))
	fmt.Fprintf(&b, "  monitor events:%s\n", events(s))
	f := r.Takeover
	fmt.Fprintf(&b, "takeover: %d servers lost main power at once, %d VMs; window %v until the last backup ran\n",
		c.Failing, c.Failing*c.VMsPerServer, f.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "  fault -> backup running: p50 %v, p99 %v, max %v (%d VMs timed)\n",
		r.Percentile(50).Round(time.Millisecond), r.Percentile(99).Round(time.Millisecond),
		r.Percentile(100).Round(time.Millisecond), len(r.FaultToRunning))
	fmt.Fprintf(&b, "  rack managers %.3f cores, etcd %.3f cores, benchmark process %.3f cores; etcd %.0f requests (%.1f/s)%s\n",
		f.cores(f.RackManagersCPU()), f.cores(f.EtcdCPU), f.cores(f.HarnessCPU), f.EtcdRequests.total(), f.EtcdRequestsPerSecond(), byMethod(f))
	fmt.Fprintf(&b, "  monitor events:%s\n", events(f))
	if c.LeaseLoss > 0 {
		l := r.LeaseTakeover
		fmt.Fprintf(&b, "takeover by lease: %d servers lost power with their BMCs (monitor dead, lease renewals cut), %d VMs; bound TTL %v + watchdog %v + margin %v = %v\n",
			c.LeaseLoss, c.LeaseLoss*c.VMsPerServer, c.LeaseTTL, c.WatchdogTimeout, c.driftMargin(), c.LeaseBound())
		fmt.Fprintf(&b, "  fault -> backup running: min %v, p50 %v, p99 %v, max %v (%d VMs timed)\n",
			percentile(r.LeaseFaultToRunning, 0).Round(time.Millisecond), percentile(r.LeaseFaultToRunning, 50).Round(time.Millisecond),
			percentile(r.LeaseFaultToRunning, 99).Round(time.Millisecond), percentile(r.LeaseFaultToRunning, 100).Round(time.Millisecond), len(r.LeaseFaultToRunning))
		fmt.Fprintf(&b, "  window %v: rack managers %.3f cores, etcd %.3f cores, benchmark process %.3f cores; etcd %.1f requests/s%s\n",
			l.Duration.Round(time.Millisecond), l.cores(l.RackManagersCPU()), l.cores(l.EtcdCPU), l.cores(l.HarnessCPU), l.EtcdRequestsPerSecond(), byMethod(l))
		fmt.Fprintf(&b, "  monitor events:%s\n", events(l))
	}
	for _, a := range r.Alerts {
		fmt.Fprintf(&b, "  alert: %s\n", a)
	}
	return b.String()
}

// perSecond lists counts per second of d, largest first.
func perSecond(c counts, d time.Duration) string {
	if len(c) == 0 || d <= 0 {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(c) {
		parts = append(parts, fmt.Sprintf("%s %.0f/s", k, c[k]/d.Seconds()))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func events(w Window) string {
	if len(w.Events) == 0 {
		return " none"
	}
	var out string
	for _, t := range eventTypes(w.Events) {
		out += fmt.Sprintf(" %s %d", t, w.Events[t])
	}
	return out
}

// coresEach is each rack-manager process's cores, leaders marked.
func coresEach(w Window) string {
	var parts []string
	for i, c := range w.RackManagerCPU {
		role := "standby"
		if w.Polling[i] {
			role = "polling"
		}
		parts = append(parts, fmt.Sprintf("%s (%s) %.3f", w.RackManagerNames[i], role, w.cores(c)))
	}
	return strings.Join(parts, "; ")
}

// sortedKeys are c's keys, largest count first.
func sortedKeys(c counts) []string {
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c[a] != c[b] {
			if c[a] > c[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return keys
}

// byMethod lists the request counts per method, largest first.
func byMethod(w Window) string {
	if len(w.EtcdRequests) == 0 {
		return ""
	}
	var parts []string
	for _, m := range sortedKeys(w.EtcdRequests) {
		parts = append(parts, fmt.Sprintf("%s %.0f", m, w.EtcdRequests[m]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
