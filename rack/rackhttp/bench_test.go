package rackhttp

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/rack"
)

// BenchmarkStatusLatency: one status from the start of its BMC read
// (Status.Time) to its receipt by a remote watcher over mutual TLS on
// loopback, one at a time. Reports p50 and p99.
//
//	go test -run '^$' -bench BenchmarkStatusLatency -benchtime 2000x -count 5 ./rack/rackhttp
func BenchmarkStatusLatency(b *testing.B) {
	r := newTestRack(b, rackOpts{})
	ctx := b.Context()
	ch, err := r.client("s1").Watch(ctx, "s1")
	if err != nil {
		b.Fatal(err)
	}
	r.local.Poll(ctx)
	next(b, ch, 5*time.Second)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		st, err := r.local.PollServer(ctx, "s2")
		if err != nil {
			b.Fatal(err)
		}
		for got := next(b, ch, 5*time.Second); !got.Time.Equal(st.Time); got = next(b, ch, 5*time.Second) {
		}
		lat = append(lat, time.Since(st.Time))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// BenchmarkRackManager50: a rack manager of 50 simulated BMCs (a ring,
// default intervals: full poll 1 s, fast poll 250 ms) serving 50
// watchers over mutual TLS, run as its own process so that its CPU and
// memory are its own. Each iteration is one second of operation.
// Reports the rack manager's CPU (ms of CPU per second), its peak RSS,
// its Go heap, the statuses delivered per second and their latency from
// BMC read to receipt (p50, p99).
//
//	go test -run '^$' -bench BenchmarkRackManager50 -benchtime 10x -count 5 ./rack/rackhttp
func BenchmarkRackManager50(b *testing.B) {
	const n = 50
	dir := b.TempDir()
	ca := newCA(b, "bench CA")
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("s%02d", i)
	}
	ca.issueIn(b, dir, "rack-manager")
	srcs := make([]*Files, n)
	for i, name := range names {
		sub := filepath.Join(dir, name)
		if err := os.Mkdir(sub, 0o700); err != nil {
			b.Fatal(err)
		}
		f, err := LoadFiles(ca.issueIn(b, sub, name))
		if err != nil {
			b.Fatal(err)
		}
		srcs[i] = f
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, "RACKHTTP_SERVERS="+strings.Join(names, ","))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	out := bufio.NewScanner(stdout)
	if !out.Scan() {
		b.Fatalf("rack manager process said nothing: %v", out.Err())
	}
	addr := strings.TrimPrefix(out.Text(), "listening ")

	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	received := 0
	var ready sync.WaitGroup
	var wg sync.WaitGroup
	for i, name := range names {
		cfg := DefaultClientConfig()
		cfg.URL, cfg.TLS, cfg.Logger = "https://"+addr, ClientTLS(srcs[i], "rack-manager"), quiet
		c, err := NewClient(cfg)
		if err != nil {
			b.Fatal(err)
		}
		ch, err := c.Watch(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for st := range ch {
				d := time.Since(st.Time)
				if first {
					first = false
					ready.Done()
					continue // the latest at connect is old by design
				}
				mu.Lock()
				lat = append(lat, d)
				received++
				mu.Unlock()
			}
		}()
	}
	ready.Wait()
	time.Sleep(time.Second) // settle
	mu.Lock()
	lat, received = lat[:0], 0
	mu.Unlock()
	cpu0 := procCPU(b, cmd.Process.Pid)
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		time.Sleep(time.Second)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	cpu := procCPU(b, cmd.Process.Pid) - cpu0
	rss := procStatus(b, cmd.Process.Pid, "VmHWM")
	_ = stdin.Close() // the child prints its heap and exits
	var heap uint64
	if out.Scan() {
		heap, _ = strconv.ParseUint(strings.TrimPrefix(out.Text(), "heap "), 10, 64)
	}
	cancel()
	wg.Wait()
	b.ReportMetric(float64(cpu.Milliseconds())/elapsed.Seconds(), "cpu-ms/s")
	b.ReportMetric(float64(rss)/1024, "peak-rss-MiB")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	mu.Lock()
	b.ReportMetric(float64(received)/elapsed.Seconds(), "statuses/s")
	reportLatency(b, lat)
	mu.Unlock()
}

// procCPU is the user and system CPU time of process pid so far.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) in parens.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// procStatus is a kB field of /proc/pid/status.
func procStatus(b *testing.B, pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// childEnv names the directory of the rack manager process that
// BenchmarkRackManager50 starts (see TestMain).
const childEnv = "RACKHTTP_BENCH_RACK_MANAGER"

// TestMain runs the benchmark's rack manager process when asked to,
// else the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := rackManagerProcess(dir, strings.Split(os.Getenv("RACKHTTP_SERVERS"), ",")); err != nil {
			fmt.Fprintln(os.Stderr, "rack manager process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// rackManagerProcess serves a ring of simbmc servers until stdin closes,
// then prints its Go heap.
func rackManagerProcess(dir string, names []string) error {
	files, err := LoadFiles(filepath.Join(dir, "rack-manager.crt"), filepath.Join(dir, "rack-manager.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		return err
	}
	topo, err := rack.Ring(names...)
	if err != nil {
		return err
	}
	lcfg := rack.DefaultLocalConfig()
	lcfg.Topology, lcfg.Logger = topo, slog.New(slog.DiscardHandler)
	for _, name := range names {
		bmc, err := simbmc.New(simbmc.DefaultConfig(name))
		if err != nil {
			return err
		}
		defer bmc.Close()
		lcfg.Servers = append(lcfg.Servers, rack.Server{Name: name, Sensors: bmc, Health: bmc, Watchdog: bmc, Power: bmc})
	}
	local, err := rack.NewLocal(lcfg)
	if err != nil {
		return err
	}
	hcfg := DefaultHandlerConfig()
	hcfg.Local, hcfg.Topology, hcfg.Logger = local, topo, lcfg.Logger
	h, err := NewHandler(hcfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := NewServer("", h, ServerTLS(files), lcfg.Logger)
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = local.Run(ctx); close(done) }()
	fmt.Printf("listening %s\n", ln.Addr())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes it
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("heap %d\n", ms.HeapInuse)
	cancel()
	srv.Close()
	<-done
	return nil
}
