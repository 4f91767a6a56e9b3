package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/failovertest"
)

// The demo's timing: real time, so everything is shortened (the
// quickstart's simulated rack polls every second; here 250 ms).
const (
	demoPoll         = 250 * time.Millisecond
	demoWatchdog     = 4 * time.Second
	demoFaultTimeout = 30 * time.Second // one failure handled, restart included
)

// The four detection modes of the method, as in examples/quickstart.
var demoPlan = []failovertest.FaultKind{
	failovertest.PowerLoss,  // blade fault or no power
	failovertest.HangOS,     // watchdog expired
	failovertest.VoltageSag, // voltage at a danger threshold
	failovertest.Overheat,   // temperature at a danger threshold
}

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	jsonOut := fs.Bool("json", false, "print one JSON object per line (each with the pid that decided it) instead of a timeline")
	servers := fs.Int("servers", 2, "servers in the rack (a ring; 2 is a pair)")
	vms := fs.Int("vms", 3, "protected VMs per server")
	scenario := fs.String("scenario", scenarioFour, "four-failures (the quickstart's four), total-power-loss (a server and its BMC vanish; takeover by etcd lease) or lease-partition (a server runs on cut off from etcd and its BMC unreachable, until its watchdog stops it)")
	keep := fs.Bool("keep", false, "keep the temporary directory (config, certificates, logs)")
	hold := fs.Bool("hold", false, "after the failures, keep the rack running until SIGINT or SIGTERM (try `failoverd status` on it)")
	view := demoViewFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *servers < 2 || *servers > 8 || *vms < 1 || *vms > 16 {
		return usageError("demo: -servers 2..8 and -vms 1..16")
	}
	if !slices.Contains(demoScenarios, *scenario) {
		return usageError("demo: -scenario %q: want one of %s", *scenario, strings.Join(demoScenarios, ", "))
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "failoverd-demo-")
	if err != nil {
		return err
	}
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	d := &demo{exe: exe, dir: dir, log: newDemoLog(stdout, *jsonOut), monitors: map[string]*child{}, view: view, scenario: *scenario,
		powerOff: map[string]time.Time{}}
	simCtx, stopSim := context.WithCancel(context.Background())
	err = d.run(ctx, simCtx, *servers, *vms)
	if err == nil && *hold {
		d.holdUntilSignal()
	}
	d.stopAll()
	stopSim() // after the processes: their last calls (a disarm) reach it
	if d.proxy != nil {
		d.proxy.Close()
	}
	if d.etcd != nil {
		d.etcd.Close()
	}
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "failoverd demo: kept %s (config, certificates, each process's log)\n", dir)
	case *keep:
		fmt.Fprintf(stderr, "failoverd demo: kept %s\n", dir)
	default:
		os.RemoveAll(dir)
	}
	return err
}

// holdUntilSignal keeps the rack running until SIGINT or SIGTERM.
func (d *demo) holdUntilSignal() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d.log.note("hold", fmt.Sprintf("the rack keeps running; try: failoverd status -config %s   (Ctrl-C stops it)", d.cfgPath),
		map[string]any{"config": d.cfgPath})
	<-ctx.Done()
}

// demo runs a simulated rack as separate processes.
type demo struct {
	exe, dir, cfgPath string
	hw                *demoHardware
	log               *demoLog
	view              *demoView // the live page (demo_view.go)
	scenario          string
	etcd              *demoEtcd         // lease scenarios (demo_lease.go)
	proxy             *cutProxy         // lease-partition: the failing server's path to etcd
	monitorCfg        map[string]string // a server's own copy of the config

	mu       sync.Mutex
	rm       *child
	rmPIDs   []int
	monitors map[string]*child
	hung     map[string]bool
	powerOff map[string]time.Time // when each server's power last went off
}

// run builds the rack, serves its simulators until simCtx ends, and goes
// through the plan.
func (d *demo) run(ctx, simCtx context.Context, servers, vms int) error {
	hw, err := newDemoHardware(ctx, d.dir, servers, vms)
	if err != nil {
		return err
	}
	d.hw, d.hung = hw, map[string]bool{}
	if _, err := hw.serve(simCtx); err != nil {
		return err
	}
	go hw.watchTwice(simCtx, 20*time.Millisecond)
	if d.cfgPath, err = d.writeConfig(); err != nil {
		return err
	}
	wd := demoWatchdog
	if d.leases() {
		wd = demoLeaseWatchdog
	}
	d.log.header("rack of %d servers, %d protected VMs each, each watching the next; a rack manager and %d monitors as separate processes over mutual TLS on loopback; poll every %v, watchdog %v\n",
		servers, vms, servers, demoPoll, wd)
	if d.leases() {
		d.log.header("each monitor holds a lease (TTL %v) in an embedded etcd (mutual TLS) and kicks its watchdog only while it is alive; a watcher takes over by lease %v + %v + drift margin %v = %v after it saw a lease expire\n",
			demoLeaseTTL, demoLeaseTTL, demoLeaseWatchdog, demoLeaseMargin, demoLeaseBound)
	}
	d.log.header("real time; (+x) is time since the fault; pid is the process that decided\n")
	if err := d.startRackManager(); err != nil {
		return err
	}
	for _, s := range hw.names {
		if err := d.startMonitor(s); err != nil {
			return err
		}
	}
	go d.followPower(simCtx)
	if err := d.waitMonitors(ctx, hw.names); err != nil {
		return err
	}
	time.Sleep(4 * demoPoll) // the watchers see healthy peers first
	if d.leases() {
		r, err := d.leaseFault(ctx)
		if err != nil {
			return err
		}
		time.Sleep(4 * demoPoll) // the last samples of who runs what
		return d.leaseVerdict(ctx, r)
	}
	for i, kind := range demoPlan {
		server := hw.names[i%len(hw.names)]
		if err := d.failure(ctx, i, kind, server); err != nil {
			return err
		}
	}
	return d.verdict(ctx)
}

// failure injects one fault and waits until its takeover is complete:
// every VM the server owned started on its watcher, the server restarted,
// and its monitor running again.
func (d *demo) failure(ctx context.Context, i int, kind failovertest.FaultKind, server string) error {
	owned, err := d.hw.owned(ctx, server)
	if err != nil {
		return err
	}
	from := d.eventCount()
	b, hv := d.hw.bmcs[server], d.hw.hvs[server]
	if kind == failovertest.Overheat {
		// Later, the rack manager restarts: killed just before the fault,
		// back a second later; the monitors reconnect.
		var serr error
		d.restartRackManagerAround(func() { d.log.mark(server, string(kind), owned); serr = b.SetValue("CPU0 Temp", 97) })
		if serr != nil {
			return serr
		}
	} else {
		d.log.mark(server, string(kind), owned)
	}
	switch kind {
	case failovertest.PowerLoss:
		b.LosePower()
		time.AfterFunc(2*demoPoll, b.RestorePower) // mains come back; the server stays off until powered on
	case failovertest.HangOS:
		// The OS hangs: its monitor stops (SIGSTOP), so nothing kicks the
		// watchdog, and its hypervisor stops answering; the VMs run on
		// until the watchdog powers the server down.
		hv.SetUnreachable(true)
		d.mu.Lock()
		d.hung[server] = true
		if m := d.monitors[server]; m != nil {
			m.signal(syscall.SIGSTOP)
		}
		d.mu.Unlock()
	case failovertest.VoltageSag:
		if err := b.SetValue("P12V", 10.5); err != nil {
			return err
		}
	}
	fctx, cancel := context.WithTimeout(ctx, demoFaultTimeout)
	defer cancel()
	if kind == failovertest.VoltageSag {
		// Mid-way, the watcher's monitor is killed (SIGKILL) during the
		// takeover and started again.
		if err := d.killWatcherMidTakeover(fctx, server, from); err != nil {
			return err
		}
	}
	err = d.log.wait(fctx, fmt.Sprintf("%s on %s not handled", kind, server), func(evs []demoEvent, started map[string]int) bool {
		return takeoverDone(evs[min(from, len(evs)):], server, owned) && started[server] != 0 && d.monitorFresh(server, started)
	})
	if err != nil {
		return err
	}
	time.Sleep(6 * demoPoll) // the restarted server reports healthy for a while
	return nil
}

// takeoverDone: every VM of owned started on another server, and server
// restarted.
func takeoverDone(evs []demoEvent, server string, owned []string) bool {
	started, restarted := map[string]bool{}, false
	for _, e := range evs {
		if e.Ev.Server != server {
			continue
		}
		switch e.Ev.Type {
		case failover.EventBackupStarted:
			if e.Ev.Peer != server {
				started[e.Ev.VM] = true
			}
		case failover.EventRestarted:
			restarted = true
		}
	}
	for _, vm := range owned {
		if !started[vm] {
			return false
		}
	}
	return restarted
}

func (d *demo) eventCount() int {
	evs, _, _ := d.log.snapshot()
	return len(evs)
}

// killWatcherMidTakeover waits for the watcher's first step of the
// takeover of server (evacuating or fenced), kills the watcher's monitor
// with SIGKILL and starts it again at once.
func (d *demo) killWatcherMidTakeover(ctx context.Context, server string, from int) error {
	var watcher string
	err := d.log.wait(ctx, "no takeover under way on "+server, func(evs []demoEvent, _ map[string]int) bool {
		for _, e := range evs[min(from, len(evs)):] {
			if e.Ev.Server == server && (e.Ev.Type == failover.EventEvacuating || e.Ev.Type == failover.EventFenced) {
				watcher = e.Ev.Peer
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	d.mu.Lock()
	m := d.monitors[watcher]
	d.mu.Unlock()
	if m == nil {
		return fmt.Errorf("demo: no monitor process for watcher %s", watcher)
	}
	pid := m.pid()
	m.kill()
	d.log.note("demo", fmt.Sprintf("SIGKILL monitor %s (pid %d) during its takeover of %s; starting it again", watcher, pid, server),
		map[string]any{"action": "kill-monitor", "server": watcher, "killed_pid": pid})
	return d.startMonitor(watcher)
}

// restartRackManagerAround kills the rack manager, runs between, and
// starts it again a second later.
func (d *demo) restartRackManagerAround(between func()) {
	d.mu.Lock()
	rm := d.rm
	d.mu.Unlock()
	pid := rm.pid()
	rm.kill()
	d.log.note("demo", fmt.Sprintf("SIGKILL rack manager (pid %d); it comes back in 1s", pid),
		map[string]any{"action": "kill-rack-manager", "killed_pid": pid})
	between()
	time.Sleep(time.Second)
	if err := d.startRackManager(); err != nil {
		d.log.note("demo", "restart rack manager: "+err.Error(), nil)
		return
	}
	d.mu.Lock()
	pid = d.rm.pid()
	d.mu.Unlock()
	d.log.note("demo", fmt.Sprintf("rack manager started again (pid %d)", pid), map[string]any{"action": "start-rack-manager", "started_pid": pid})
}
