package ipmibmc

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// The performance checks start real processes and take tens of seconds,
// so they run only when asked: IPMIBMC_PERF=1 go test -run Perf -v ./bmc/ipmibmc/
func needPerf(t *testing.T) {
	t.Helper()
	if os.Getenv("IPMIBMC_PERF") != "1" {
		t.Skip("set IPMIBMC_PERF=1 to run the performance comparison")
	}
	needSim(t)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// timeRuns runs cmd n times and returns the wall time of each run.
func timeRuns(t *testing.T, n int, env []string, name string, args ...string) []time.Duration {
	t.Helper()
	var out []time.Duration
	for range n {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		start := time.Now()
		b, err := cmd.CombinedOutput()
		out = append(out, time.Since(start))
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
	}
	return out
}

// TestPerfSideBySide polls the same ipmi_sim (24 sensors) with the adapter
// in a long-lived session, with ipmitool and with freeipmi's ipmi-sensors
// (SDR cache warm), in one run, and compares medians. Target: the adapter
// takes at most a fifth of the faster tool.
func TestPerfSideBySide(t *testing.T) {
	needPerf(t)
	for _, tool := range []string{"ipmitool", "ipmi-sensors"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (Debian packages ipmitool, freeipmi-tools): %v", tool, err)
		}
	}
	s := startSim(t, ipmisim.Config{})
	b := open(t, s)
	ctx := ctxT(t, time.Minute)
	rs, err := b.Readings(ctx) // session and SDR cache
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(s.Port)
	cache := t.TempDir()
	freeipmi := []string{"-h", "127.0.0.1:" + port, "-u", s.User(), "-p", s.Password(), "--driver-type=LAN_2_0",
		"--cipher-suite-id=3", "-W", "opensesspriv", "--sdr-cache-directory=" + cache, "--quiet-cache"}
	timeRuns(t, 1, nil, "ipmi-sensors", freeipmi...) // fills the SDR cache
	const runs = 21
	var ours []time.Duration
	for range 200 {
		start := time.Now()
		if _, err := b.Readings(ctx); err != nil {
			t.Fatal(err)
		}
		ours = append(ours, time.Since(start))
	}
	ipmitool := timeRuns(t, runs, []string{"IPMI_PASSWORD=" + s.Password()}, "ipmitool",
		"-I", "lanplus", "-H", "127.0.0.1", "-p", port, "-U", s.User(), "-E", "-C", "3", "sensor")
	sensors := timeRuns(t, runs, nil, "ipmi-sensors", freeipmi...)
	mo, mi, ms := median(ours), median(ipmitool), median(sensors)
	faster := min(mi, ms)
	ratio := float64(mo) / float64(faster)
	t.Logf("%d sensors; medians: adapter poll %v (200 polls), ipmitool sensor %v, ipmi-sensors (cached SDR) %v (%d runs each)",
		len(rs), mo, mi, ms, runs)
	t.Logf("adapter / faster tool = %.3f (1/%.1f)", ratio, 1/ratio)
	if ratio > 0.2 {
		t.Errorf("adapter poll %v is more than a fifth of %v", mo, faster)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPerfFiftyBMCs polls 50 ipmi_sim instances concurrently at 1 Hz, as
// the rack manager does (readings, health, watchdog state), and measures
// this process's CPU time (getrusage) over the run: target under 5 % of
// one core. The simulators run in their own processes and are not counted.
func TestPerfFiftyBMCs(t *testing.T) {
	needPerf(t)
	const n = 50
	dur := 20 * time.Second
	if v, err := time.ParseDuration(os.Getenv("IPMIBMC_PERF_DURATION")); err == nil {
		dur = v
	}
	bmcs := make([]*BMC, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := ipmisim.Start(ipmisim.Config{Dir: t.TempDir(), Name: "bmc" + strconv.Itoa(i)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(s.Stop)
			b, err := New(simConfig(s))
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { b.Close() })
			bmcs[i] = b
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	poll := func(b *BMC) error {
		ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
		defer cancel()
		if _, err := b.Readings(ctx); err != nil {
			return err
		}
		if _, err := b.Health(ctx); err != nil {
			return err
		}
		_, err := b.State(ctx)
		return err
	}
	for _, b := range bmcs { // warm up: sessions and SDR caches
		if err := poll(b); err != nil {
			t.Fatal(err)
		}
	}
	cpu0, wall0 := cpuTime(), time.Now()
	var polls, fails int
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	for _, b := range bmcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				err := poll(b)
				mu.Lock()
				polls++
				if err != nil {
					fails++
					t.Logf("poll: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	pct := 100 * cpu.Seconds() / wall.Seconds()
	t.Logf("%d BMCs x 24 sensors at 1 Hz for %v: %d polls (%d failed), CPU %v = %.2f%% of one core",
		n, wall.Round(time.Millisecond), polls, fails, cpu.Round(time.Millisecond), pct)
	if fails > 0 {
		t.Errorf("%d of %d polls failed", fails, polls)
	}
	if pct >= 5 {
		t.Errorf("CPU %.2f%% of one core, target under 5%%", pct)
	}
}

// BenchmarkReadings is one full poll of 24 sensors in a long-lived session.
func BenchmarkReadings(b *testing.B) {
	s := startSim(b, ipmisim.Config{})
	a := open(b, s)
	ctx := context.Background()
	if _, err := a.Readings(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Readings(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
