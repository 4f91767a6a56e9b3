package scalebench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/rack/rackhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Result is what one run measured.
type Result struct {
	Config Config
	// EtcdVersion is the etcd server's own (GET /version).
	EtcdVersion string
	// Steady is the steady window: every BMC polled, every monitor fed,
	// nothing failing.
	Steady Window
	// StatusAge is, at the end of the steady window, the oldest of every
	// server's newest journaled status (full polls are journaled every
	// Interval): above a second or two, the rack managers fall behind.
	StatusAge time.Duration
	// Takeover is the window from the power cut to the last backup
	// running.
	Takeover Window
	// FaultToRunning is, per VM of the failed servers, the time from its
	// server's power cut to its backup's Start returning on the watcher,
	// sorted.
	FaultToRunning []time.Duration
	// LeaseTakeover and LeaseFaultToRunning are the same for the total
	// power loss (Config.LeaseLoss), from the power cut of server and BMC
	// to the backup started by lease.
	LeaseTakeover       Window
	LeaseFaultToRunning []time.Duration
	// Alerts are the first few alerts the monitors raised in the run.
	Alerts []string
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of
// FaultToRunning, 0 when empty.
func (r *Result) Percentile(p float64) time.Duration { return percentile(r.FaultToRunning, p) }

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Run builds failoverd, starts one etcd-server process, c.Racks
// rack-manager processes and every monitor, measures the steady window,
// cuts the power of c.Failing servers at once and waits for every one of
// their VMs to run on a watcher. It returns the figures, and an error
// when anything went wrong: a VM that did not start, started twice, ran
// on two hosts at once, or any VM not on its owner (a spurious
// takeover). The result is returned with what was measured so far even
// with an error. Everything it started is stopped at the test's end.
func Run(t *testing.T, c Config) (*Result, error) {
	t.Helper()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	res := &Result{Config: c}
	begin := time.Now()
	phase := func(what string) { t.Logf("scalebench: %v: %s", time.Since(begin).Round(time.Millisecond), what) }
	dir := t.TempDir()
	etcd := etcdrig.StartExternal(t)
	phase("etcd-server " + etcd.Endpoint + " ready")
	exe, err := buildDaemon(dir)
	if err != nil {
		return nil, err
	}
	phase("failoverd built")
	var names []string
	for r := range c.Racks {
		for i := range c.ServersPerRack {
			names = append(names, serverName(r, i))
		}
	}
	certs, err := makeCerts(exe, dir, names)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ms := &monitors{events: newEventCount()}
	var (
		rigs         []*rackRig
		procs        []*rmProc // every rack's, in order
		leaseClients []*clientv3.Client
	)
	t.Cleanup(func() {
		cancel()
		ms.wait()
		for _, rr := range rigs {
			rr.stop()
		}
		for _, c := range leaseClients {
			c.Close()
		}
		if t.Failed() {
			for _, p := range procs {
				t.Logf("%s log tail:\n%s", p.name(), tail(p.logPath(dir)))
			}
			t.Logf("monitors log tail:\n%s", tail(filepath.Join(dir, "monitors.log")))
		}
	})
	if res.EtcdVersion, err = etcdVersion(ctx, etcd.Endpoint); err != nil {
		return nil, err
	}
	for r := range c.Racks {
		rr, err := newRackRig(ctx, dir, r, c, etcd.Endpoint)
		if err != nil {
			return nil, err
		}
		rigs = append(rigs, rr)
		if _, err := rr.serve(ctx); err != nil {
			return nil, err
		}
		if err := rr.configure(dir, certs, c.Replicas, etcd.Endpoint); err != nil {
			return nil, err
		}
		for _, p := range rr.procs {
			if err := p.start(exe, dir); err != nil {
				return nil, err
			}
			procs = append(procs, p)
		}
	}
	phase("images in etcd, VMs running, rack managers started")
	op, err := operatorClients(rigs, certs)
	if err != nil {
		return nil, err
	}
	if err := waitPolled(ctx, procs, op, time.Minute); err != nil {
		return nil, err
	}
	phase("every BMC polled")
	logf, err := os.Create(filepath.Join(dir, "monitors.log"))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { logf.Close() })
	mlog := slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	starts := newStartLog()
	newClient := func(endpoint string) (*clientv3.Client, error) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err == nil {
			leaseClients = append(leaseClients, cli)
		}
		return cli, err
	}
	proxies := map[string]*etcdrig.Proxy{} // the total power loss's servers' own way to etcd
	for r, rr := range rigs {
		var ls *leaseSetup
		if c.Leases {
			// One etcd client per rack for its monitors' leases (the
			// daemon has one per process, here a process per rack).
			cli, err := newClient(etcd.Endpoint)
			if err != nil {
				return nil, err
			}
			ls = &leaseSetup{client: cli, ttl: c.LeaseTTL, watchdog: c.WatchdogTimeout, margin: c.driftMargin(), own: map[string]*clientv3.Client{}}
			for _, i := range leaseLossServers(c)[r] {
				name := serverName(r, i)
				proxies[name] = etcdrig.NewProxy(t, etcd.Endpoint)
				if ls.own[name], err = newClient(proxies[name].Endpoint()); err != nil {
					return nil, err
				}
			}
		}
		if err := ms.start(ctx, rr, certs, starts, ls, mlog); err != nil {
			return nil, err
		}
	}
	if err := waitFor(ctx, 2*time.Minute, func() error {
		if n := ms.fed(); n < c.BMCs() {
			return fmt.Errorf("%d of %d monitors have a status", n, c.BMCs())
		}
		if n := ms.reconciled(); n < c.BMCs() {
			return fmt.Errorf("%d of %d monitors have read what they own (boot reconcile)", n, c.BMCs())
		}
		return nil
	}); err != nil {
		return nil, err
	}
	phase("every monitor fed and reconciled")
	twice := watchTwice(ctx, rigs, 100*time.Millisecond)
	sleep(ctx, c.Warmup)

	s0, err := takeSample(ctx, procs, etcd.Pid(), etcd.Endpoint, ms, true)
	if err != nil {
		return nil, err
	}
	sleep(ctx, c.Steady)
	s1, err := takeSample(ctx, procs, etcd.Pid(), etcd.Endpoint, ms, false)
	if err != nil {
		return nil, err
	}
	res.Steady = window(s0, s1, procs)
	if res.StatusAge, err = statusAge(ctx, op); err != nil {
		return res, err
	}
	if err := processesAlive(procs, ms); err != nil {
		return res, err
	}

	lost := map[string]time.Time{} // VM -> its server's power cut
	starts.arm()
	f0, err := takeSample(ctx, procs, etcd.Pid(), etcd.Endpoint, ms, true)
	if err != nil {
		return res, err
	}
	cut := cutPower(rigs, failingServers(c), c.VMsPerServer, lost, func(r int, name string) {
		rigs[r].bmcs[name].LosePower()
	})
	phase(fmt.Sprintf("cut the main power of %v (their BMCs keep answering)", cut))
	waitErr := waitStarted(ctx, starts, vmsOf(cut, c.VMsPerServer), c.TakeoverLimit)
	f1, err := takeSample(ctx, procs, etcd.Pid(), etcd.Endpoint, ms, false)
	if err != nil {
		return res, err
	}
	res.Takeover = window(f0, f1, procs)
	res.FaultToRunning = latencies(starts, lost, cut, c.VMsPerServer)
	phase("takeover over")
	if waitErr != nil {
		return res, waitErr
	}

	if c.LeaseLoss > 0 {
		sleep(ctx, time.Second)
		l0, err := takeSample(ctx, procs, etcd.Pid(), etcd.Endpoint, ms, true)
		if err != nil {
			return res, err
		}
		cut := cutPower(rigs, leaseLossServers(c), c.VMsPerServer, lost, func(r int, name string) {
			// The server and its BMC go dark together: its lease
			// renewals stop reaching etcd, its monitor dies with it.
			proxies[name].Cut(etcdrig.LoseRequests)
			b := rigs[r].bmcs[name]
			b.SetUnreachable(true)
			b.LosePower()
			ms.stop[name]()
		})
		phase(fmt.Sprintf("total power loss (BMC with it) of %v; the bound is %v", cut, c.LeaseBound()))
		waitErr := waitStarted(ctx, starts, vmsOf(cut, c.VMsPerServer), c.LeaseBound()+c.TakeoverLimit)
		l1, err := takeSample(ctx, procs, etcd.Pid(), etcd.Endpoint, ms, false)
		if err != nil {
			return res, err
		}
		res.LeaseTakeover = window(l0, l1, procs)
		res.LeaseFaultToRunning = latencies(starts, lost, cut, c.VMsPerServer)
		phase("takeover by lease over")
		if waitErr != nil {
			return res, waitErr
		}
		if len(res.LeaseFaultToRunning) > 0 && res.LeaseFaultToRunning[0] < c.LeaseBound() {
			return res, fmt.Errorf("a VM of a server without a fence started %v after the fault, before the bound %v", res.LeaseFaultToRunning[0], c.LeaseBound())
		}
	}
	sleep(ctx, 2*time.Second) // a second start, a late double run, would show now
	res.Alerts = ms.events.firstAlerts()
	return res, errors.Join(verify(ctx, rigs, lost, starts), twice.err(), processesAlive(procs, ms))
}

// cutPower applies fault to servers (rack -> indices), noting in lost
// the instant each server's VMs went down, and returns their names.
func cutPower(rigs []*rackRig, servers [][]int, vms int, lost map[string]time.Time, fault func(r int, name string)) []string {
	var names []string
	for r, idx := range servers {
		for _, i := range idx {
			name := serverName(r, i)
			names = append(names, name)
			at := time.Now()
			fault(r, name)
			for v := range vms {
				lost[fmt.Sprintf("%s-vm%d", name, v+1)] = at
			}
		}
	}
	return names
}

// vmsOf are the VMs of servers.
func vmsOf(servers []string, vms int) []string {
	var out []string
	for _, s := range servers {
		for v := range vms {
			out = append(out, fmt.Sprintf("%s-vm%d", s, v+1))
		}
	}
	return out
}

// waitStarted waits until every one of vms has started somewhere.
func waitStarted(ctx context.Context, starts *startLog, vms []string, limit time.Duration) error {
	return waitFor(ctx, limit, func() error {
		var missing []string
		for _, vm := range vms {
			if len(starts.get(vm)) == 0 {
				missing = append(missing, vm)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d VMs of the failed servers have no backup running: %v", len(missing), len(vms), missing)
		}
		return nil
	})
}

// latencies are, sorted, the fault-to-start times of servers' VMs.
func latencies(starts *startLog, lost map[string]time.Time, servers []string, vms int) []time.Duration {
	var out []time.Duration
	for _, vm := range vmsOf(servers, vms) {
		if s := starts.get(vm); len(s) > 0 {
			out = append(out, s[0].at.Sub(lost[vm]))
		}
	}
	slices.Sort(out)
	return out
}

// operatorClients are one operator client per rack (GET /v1/rack), to
// whichever replica leads.
func operatorClients(rigs []*rackRig, certs certFiles) ([]*rackhttp.Client, error) {
	files, err := rackhttp.LoadFiles(certs.cert(operatorName), certs.key(operatorName), certs.ca())
	if err != nil {
		return nil, err
	}
	var out []*rackhttp.Client
	for _, rr := range rigs {
		first, others := rr.urls()
		cl, err := rackhttp.NewClient(rackhttp.ClientConfig{URL: first, URLs: others, TLS: rackhttp.ClientTLS(files, rackManagerName)})
		if err != nil {
			return nil, err
		}
		out = append(out, cl)
	}
	return out, nil
}

// waitPolled waits until every rack's rack manager (its leader) has
// journaled a status of every server.
func waitPolled(ctx context.Context, procs []*rmProc, op []*rackhttp.Client, limit time.Duration) error {
	return waitFor(ctx, limit, func() error {
		for _, p := range procs {
			if !p.alive() {
				return fmt.Errorf("%s exited (see its log)", p.name())
			}
		}
		for i, cl := range op {
			view, err := cl.RackJournal(ctx, 1)
			if err != nil {
				return fmt.Errorf("rack %d: %w", i+1, err)
			}
			for _, s := range view.Servers {
				if s.Latest == nil || !s.Latest.Reachable {
					return fmt.Errorf("rack %d: no status of %s yet", i+1, s.Name)
				}
			}
		}
		return nil
	})
}

// statusAge is the oldest of every server's newest journaled status.
func statusAge(ctx context.Context, op []*rackhttp.Client) (time.Duration, error) {
	var oldest time.Duration
	for i, cl := range op {
		view, err := cl.RackJournal(ctx, 1)
		if err != nil {
			return 0, fmt.Errorf("rack manager %d: %w", i+1, err)
		}
		for _, s := range view.Servers {
			if s.Latest == nil {
				return 0, fmt.Errorf("rack manager %d: no status of %s", i+1, s.Name)
			}
			oldest = max(oldest, view.Time.Sub(s.Latest.Time))
		}
	}
	return oldest, nil
}

// processesAlive fails when a rack manager exited or a monitor stopped.
func processesAlive(procs []*rmProc, ms *monitors) error {
	var errs []error
	for _, p := range procs {
		if !p.alive() {
			errs = append(errs, fmt.Errorf("%s exited", p.name()))
		}
	}
	return errors.Join(append(errs, ms.failed()...)...)
}

// waitFor calls cond every 20 ms until it returns nil, ctx ends or limit
// passes (then its last error).
func waitFor(ctx context.Context, limit time.Duration, cond func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// etcdVersion is the server's version from GET /version.
func etcdVersion(ctx context.Context, endpoint string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/version", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("scalebench: etcd version: %w", err)
	}
	defer resp.Body.Close()
	var v struct {
		Server string `json:"etcdserver"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&v); err != nil {
		return "", fmt.Errorf("scalebench: etcd version: %w", err)
	}
	return v.Server, nil
}

// tail is a file's last 3000 bytes.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b[max(0, len(b)-3000):]))
}
