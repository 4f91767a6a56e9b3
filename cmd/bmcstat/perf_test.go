package main

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// tool is one command of the side-by-side comparison.
type tool struct {
	name string
	cmd  []string
	env  []string
	wall []time.Duration
	cpu  []time.Duration // user + system of the process
}

func (tl *tool) run(t *testing.T) {
	t.Helper()
	c := exec.Command(tl.cmd[0], tl.cmd[1:]...)
	c.Env = append(os.Environ(), tl.env...)
	start := time.Now()
	out, err := c.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("%s: %v\n%s", tl.name, err, out)
	}
	tl.wall = append(tl.wall, wall)
	tl.cpu = append(tl.cpu, c.ProcessState.UserTime()+c.ProcessState.SystemTime())
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestPerfSideBySide times whole processes against one 7-sensor ipmi_sim
// blade, in turn (one run of each tool per round, so drift hits all
// alike): bmcstat with a warm SDR cache, bmcstat without one, freeipmi's
// ipmi-sensors with its SDR cache warm (plain, and with thresholds, which
// bmcstat always prints), and ipmitool sensor. It reports medians and
// the median of the round-by-round ratios, and fails unless bmcstat with
// its cache is faster than ipmi-sensors with its cache. It runs only when asked:
//
//	BMCSTAT_PERF=1 go test -run PerfSideBySide -v ./cmd/bmcstat/
//
// BMCSTAT_PERF_RUNS sets the rounds (default 21).
func TestPerfSideBySide(t *testing.T) {
	if os.Getenv("BMCSTAT_PERF") != "1" {
		t.Skip("set BMCSTAT_PERF=1 to run the side-by-side timing")
	}
	for _, name := range []string{"ipmitool", "ipmi-sensors"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("%s missing (Debian packages ipmitool, freeipmi-tools): %v", name, err)
		}
	}
	runs := 21
	if n, err := strconv.Atoi(os.Getenv("BMCSTAT_PERF_RUNS")); err == nil && n > 0 {
		runs = n
	}
	s := startSimConfig(t, ipmisim.Config{PoweredOn: true, Sensors: ipmisim.DefaultSensors()[:7]})
	port := strconv.Itoa(s.Port)
	bin := binary(t)
	sdrCache, freeipmiCache := t.TempDir(), t.TempDir()
	pw := []string{"BMC_PASSWORD=" + s.Password(), "IPMI_PASSWORD=" + s.Password()}
	freeipmi := []string{"ipmi-sensors", "-h", "127.0.0.1:" + port, "-u", s.User(), "-p", s.Password(),
		"-D", "LAN_2_0", "-I", "3", "-W", "opensesspriv", "--sdr-cache-directory=" + freeipmiCache, "--quiet-cache"}
	tools := []*tool{
		{name: "bmcstat -ipmi, SDR cache warm", cmd: []string{bin, "-ipmi", s.Addr(), "-user", s.User(), "-cipher", "3", "-sdr-cache", sdrCache}, env: pw},
		{name: "bmcstat -ipmi -no-sdr-cache", cmd: []string{bin, "-ipmi", s.Addr(), "-user", s.User(), "-cipher", "3", "-no-sdr-cache"}, env: pw},
		{name: "ipmi-sensors, SDR cache warm", cmd: freeipmi},
		{name: "ipmi-sensors --output-sensor-thresholds", cmd: append(slices.Clone(freeipmi), "--output-sensor-thresholds")},
		{name: "ipmitool sensor", cmd: []string{"ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", port, "-U", s.User(), "-E", "-C", "3", "sensor"}, env: pw},
	}
	for _, tl := range tools { // warm-up: fills both SDR caches
		tl.run(t)
		tl.wall, tl.cpu = nil, nil
	}
	for range runs {
		for _, tl := range tools {
			tl.run(t)
		}
	}
	ours, theirs := tools[0], tools[2]
	for _, tl := range tools {
		t.Logf("%-42s wall %8v  cpu %8v  (medians of %d runs)", tl.name, medianOf(tl.wall).Round(10*time.Microsecond),
			medianOf(tl.cpu).Round(10*time.Microsecond), runs)
	}
	// Ratios round by round (the runs of a round are next to each other
	// in time), then their median.
	for _, tl := range tools[1:] {
		t.Logf("bmcstat warm / %-42s wall %.3f  cpu %.3f", tl.name, ratioMedian(ours.wall, tl.wall), ratioMedian(ours.cpu, tl.cpu))
	}
	if r := ratioMedian(ours.wall, theirs.wall); r >= 1 {
		t.Errorf("bmcstat with its SDR cache is not faster than ipmi-sensors with its cache: wall ratio %.3f (medians %v, %v)",
			r, medianOf(ours.wall), medianOf(theirs.wall))
	}
}

// ratioMedian is the median of a[i]/b[i].
func ratioMedian(a, b []time.Duration) float64 {
	var rs []float64
	for i := range a {
		if b[i] > 0 {
			rs = append(rs, float64(a[i])/float64(b[i]))
		}
	}
	if len(rs) == 0 {
		return 0
	}
	slices.Sort(rs)
	return rs[len(rs)/2]
}
