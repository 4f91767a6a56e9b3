package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/internal/logsink"
	"github.com/rackha/failover/lease/etcdlease"
	"github.com/rackha/failover/watchdog"
)

// leaseRack is goodConfig on an embedded etcd over plain http (loopback),
// leases on, both servers with a watchdog.
func leaseRack(t *testing.T) (*Config, string) {
	t.Helper()
	e, endpoint, err := etcdrig.StartEmbedded(filepath.Join(t.TempDir(), "etcd"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return leaseRackOn(t, endpoint)
}

// leaseRackOn is leaseRack on the etcd at endpoint.
func leaseRackOn(t *testing.T, endpoint string) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	text := strings.NewReplacer(
		"image_store: {kind: file, dir: /tmp/images}\n", "image_store: {kind: file, dir: /tmp/images}\netcd: {endpoints: ["+endpoint+"], insecure_plaintext: true, prefix: /test/, request_timeout: 1s}\nlease: {enabled: true, ttl: 2s}\n",
		"watchdog: {kind: none}", "watchdog: {kind: ipmi-lan, timeout: 10s}",
		"      kind: redfish\n      url: https://127.0.0.1:8443\n", "      kind: ipmi\n      address: 127.0.0.1:6231\n",
	).Replace(goodConfig)
	path := filepath.Join(dir, "rack.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// A monitor whose server was taken over waits for its lease, saying so,
// until an operator releases the record with `failoverd lease release`.
func TestMonitorWaitsForReleasedTakeover(t *testing.T) {
	t.Parallel()
	cfg, path := leaseRack(t)
	d := &daemon{cfg: cfg}
	a := &adapters{cfg: cfg}
	defer a.Close()
	var logs logsink.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ml, err := d.newLeases(a, 0, log)
	if err != nil {
		t.Fatal(err)
	}
	if ml == nil || ml.spec.TTL != 2*time.Second {
		t.Fatalf("leases %+v", ml)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// s2 (dead since) recorded its takeover of s1.
	if err := ml.store.Takeover(ctx, "s1", "s2"); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"lease", "-config", path, "show"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "s1") || !strings.Contains(out.String(), "taken over by s2") {
		t.Fatalf("lease show: %d\n%s%s", code, out.String(), errOut.String())
	}
	type started struct {
		stop   func()
		failed <-chan error
		err    error
	}
	done := make(chan started, 1)
	go func() {
		stop, failed, err := ml.start(ctx, log, 200*time.Millisecond)
		done <- started{stop, failed, err}
	}()
	time.Sleep(700 * time.Millisecond) // start logs its wait every 200 ms
	select {
	case s := <-done:
		t.Fatalf("started while taken over: %v", s.err)
	default:
	}
	if ok, why := ml.keeper.Alive(); ok || !strings.Contains(why, "taken over") {
		t.Errorf("keeper alive %v (%s) while taken over", ok, why)
	}
	if !strings.Contains(logs.String(), "waiting for this server's lease") {
		t.Errorf("no log while waiting:\n%s", logs.String())
	}
	out.Reset()
	if code := run([]string{"lease", "-config", path, "release", "s1"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "takeover by s2 released") {
		t.Fatalf("lease release: %d\n%s%s", code, out.String(), errOut.String())
	}
	s := <-done
	if s.err != nil {
		t.Fatalf("after the release: %v", s.err)
	}
	if ok, why := ml.keeper.Alive(); !ok {
		t.Errorf("lease held but not alive: %s", why)
	}
	out.Reset()
	if code := run([]string{"lease", "-config", path, "-json", "show"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `{"server":"s1","held":true,"ttl_ms":2000}`) {
		t.Errorf("lease show -json after the release: %d\n%s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"lease", "-config", path, "release", "s1"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "nothing to release") {
		t.Errorf("second release: %d\n%s%s", code, out.String(), errOut.String())
	}
	if code := run([]string{"lease", "-config", path, "release", "s9"}, &out, &errOut); code != 2 {
		t.Errorf("release of an unknown server: exit %d, want 2", code)
	}
	select {
	case err := <-s.failed:
		t.Errorf("keeper failed: %v", err)
	default:
	}
	s.stop() // revokes
	out.Reset()
	if code := run([]string{"lease", "-config", path, "show"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "s1           no lease") {
		t.Errorf("after stop: %d\n%s%s", code, out.String(), errOut.String())
	}
}

// startLeases starts the leases of cfg's first server, with logs
// discarded, under a context that ends after timeout (or with the test).
func startLeases(t *testing.T, cfg *Config, timeout time.Duration) (*daemon, *monitorLeases, context.Context, func(), <-chan error) {
	t.Helper()
	d := &daemon{cfg: cfg}
	a := &adapters{cfg: cfg}
	t.Cleanup(func() { a.Close() })
	ml, err := d.newLeases(a, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	stop, failed, err := ml.start(ctx, slog.New(slog.DiscardHandler), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return d, ml, ctx, stop, failed
}

// The updater's watchdog kicks only while both the loop gate and the
// lease say so; each refusal says why, and Arm declares the watchdog in
// etcd first.
func TestWatchdogKicksOnlyWithLoopAndLease(t *testing.T) {
	t.Parallel()
	cfg, _ := leaseRack(t)
	d, ml, ctx, stop, _ := startLeases(t, cfg, 20*time.Second)
	b, err := simbmc.New(simbmc.DefaultConfig("s1"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	loopOK := true
	alive := func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		if !loopOK {
			return false, "loop stalled (test)"
		}
		return true, ""
	}
	w := ml.gate(loopGated(b, alive))
	if err := w.Arm(ctx, 10*time.Second, watchdog.ActionPowerDown); err != nil {
		t.Fatal(err)
	}
	rows, err := readLeases(ctx, d.etcd, "/test/", []string{"s1"})
	if err != nil || rows[0].Watchdog != "armed" || !rows[0].Held {
		t.Fatalf("after Arm: %+v %v, want held and armed", rows, err)
	}
	kicked := func() bool {
		time.Sleep(20 * time.Millisecond)
		before, _ := b.State(ctx)
		time.Sleep(20 * time.Millisecond)
		err := w.Kick(ctx)
		after, _ := b.State(ctx)
		return err == nil && after.Remaining > before.Remaining
	}
	if !kicked() {
		t.Fatal("loop and lease alive: not kicked")
	}
	mu.Lock()
	loopOK = false
	mu.Unlock()
	if err := w.Kick(ctx); err == nil || !strings.Contains(err.Error(), "loop stalled") || kicked() {
		t.Errorf("loop stalled, lease alive: kick %v", err)
	}
	mu.Lock()
	loopOK = true
	mu.Unlock()
	stop() // the lease ends
	if err := w.Kick(ctx); !errors.Is(err, etcdlease.ErrNotAlive) || kicked() {
		t.Errorf("loop alive, lease gone: kick %v, want ErrNotAlive", err)
	}
	// Disarm needs the declaration: written, then disarmed.
	if err := w.(watchdog.Disarmer).Disarm(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, _ := readLeases(ctx, d.etcd, "/test/", []string{"s1"}); rows[0].Watchdog != "disarmed" || rows[0].Held {
		t.Errorf("after stop and Disarm: %+v", rows)
	}
	if st, _ := b.State(ctx); st.Running {
		t.Errorf("still running after Disarm: %+v", st)
	}

	// A watchdog that cannot be disarmed (simbmc's in-band one) is never
	// declared disarmed: Disarm fails and the declaration stays armed.
	inband := ml.gate(loopGated(b.InBand(), alive))
	if err := inband.(watchdog.Disarmer).Disarm(ctx); !errors.Is(err, etcdlease.ErrCannotDisarm) {
		t.Errorf("Disarm of a watchdog without one: %v, want ErrCannotDisarm", err)
	}
	if err := ml.keeper.DeclareWatchdog(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := inband.(watchdog.Disarmer).Disarm(ctx); err == nil {
		t.Error("disarmed")
	}
	if rows, _ := readLeases(ctx, d.etcd, "/test/", []string{"s1"}); rows[0].Watchdog != "armed" {
		t.Errorf("a watchdog that cannot be disarmed declared %q", rows[0].Watchdog)
	}
}

// The all role runs monitors on the controller: a lease held there would
// gate nothing on the servers, so it is refused.
func TestAllRoleRefusesLeases(t *testing.T) {
	_, path := leaseRack(t)
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"all", "-config", path}, {"all", "-config", path, "-check"}} {
		errOut.Reset()
		if code := run(args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "lease.enabled") || !strings.Contains(errOut.String(), "run a monitor on each server") {
			t.Errorf("%v with leases: exit %d\n%s", args, code, errOut.String())
		}
	}
}

// A keeper that stops on its own (its store closed) is reported, so the
// monitor exits and is restarted instead of running on without a lease.
func TestLeaseKeeperStopReported(t *testing.T) {
	t.Parallel()
	cfg, _ := leaseRack(t)
	_, ml, _, stop, failed := startLeases(t, cfg, 20*time.Second)
	defer stop()
	ml.store.Close()
	select {
	case err := <-failed:
		if !errors.Is(err, etcdlease.ErrClosed) {
			t.Errorf("failed with %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the keeper's stop was not reported")
	}
	if ok, _ := ml.keeper.Alive(); ok {
		t.Error("alive after the keeper stopped")
	}
}

// A host whose etcd dies (Debian's etcd-server, killed): its kicks stop
// once its lease runs out by its own clock, its watchdog expires and
// powers it down; when etcd is back it holds its lease and kicks again.
func TestWatchdogStopsWhenEtcdDies(t *testing.T) {
	t.Parallel()
	x := etcdrig.StartExternal(t)
	cfg, _ := leaseRackOn(t, x.Endpoint)
	_, ml, ctx, stop, _ := startLeases(t, cfg, 30*time.Second)
	defer stop()
	b, err := simbmc.New(simbmc.DefaultConfig("s1"))
	if err != nil {
		t.Fatal(err)
	}
	w := ml.gate(loopGated(b.InBand(), func() (bool, string) { return true, "" }))
	const timeout = 2 * time.Second
	if err := w.Arm(ctx, timeout, watchdog.ActionPowerDown); err != nil {
		t.Fatal(err)
	}
	// An updater's kicks, every 200 ms; the last one that went through.
	var mu sync.Mutex
	var lastKick time.Time
	kicks, stopKicks := context.WithCancel(ctx)
	defer stopKicks()
	go func() {
		for kicks.Err() == nil {
			if w.Kick(kicks) == nil {
				mu.Lock()
				lastKick = time.Now()
				mu.Unlock()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	time.Sleep(500 * time.Millisecond)
	x.Kill()
	killed := time.Now()
	for b.HostPower() != bmc.PowerOff {
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("the watchdog did not power the host down within 10s of etcd's death")
		}
		b.Sync()
		time.Sleep(20 * time.Millisecond)
	}
	off := time.Since(killed)
	mu.Lock()
	last := lastKick.Sub(killed)
	mu.Unlock()
	// The last kick came at most a TTL after the death (the last renewal
	// was sent before it), and the power went a timeout after that.
	if last > ml.spec.TTL {
		t.Errorf("kicked %v after etcd died, past the TTL %v", last, ml.spec.TTL)
	}
	if off > ml.spec.TTL+timeout+500*time.Millisecond {
		t.Errorf("powered down %v after etcd died, want within TTL %v + timeout %v", off, ml.spec.TTL, timeout)
	}
	t.Logf("etcd killed: last kick +%v, host powered down +%v", last.Round(time.Millisecond), off.Round(time.Millisecond))
	x.Start()
	for ok, why := ml.keeper.Alive(); !ok; ok, why = ml.keeper.Alive() {
		if time.Since(killed) > 20*time.Second {
			t.Fatalf("no lease after etcd came back: %s", why)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := w.Arm(ctx, timeout, watchdog.ActionPowerDown); err != nil {
		t.Fatalf("arming again once etcd is back: %v", err)
	}
}
