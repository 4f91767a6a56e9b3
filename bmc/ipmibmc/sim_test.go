package ipmibmc

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// needSim skips (or, in CI, fails) when ipmi_sim is missing.
func needSim(t testing.TB) {
	t.Helper()
	if err := ipmisim.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v (install the Debian package openipmi)", err)
	}
}

// startSim starts an ipmi_sim for the test and stops it at cleanup.
func startSim(t testing.TB, cfg ipmisim.Config) *ipmisim.Sim {
	t.Helper()
	needSim(t)
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := ipmisim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// simConfig is the adapter's Config for s (cipher suite 3: ipmi_sim does
// not offer 17).
func simConfig(s *ipmisim.Sim) Config {
	host, port, _ := strings.Cut(s.Addr(), ":")
	cfg := DefaultConfig(host, s.User(), s.Password())
	cfg.Port, _ = strconv.Atoi(port)
	cfg.CipherSuite = 3
	cfg.Timeout = 500 * time.Millisecond
	cfg.Retries = 1
	cfg.PowerPoll = 50 * time.Millisecond
	return cfg
}

// open returns an adapter for s, closed at cleanup.
func open(t testing.TB, s *ipmisim.Sim) *BMC {
	t.Helper()
	b, err := New(simConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestSimSmoke(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	b := open(t, s)
	rs, err := b.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		t.Logf("%+v", r)
	}
	h, err := b.Health(ctxT(t, 5*time.Second))
	t.Logf("health %+v %v", h, err)
	w, err := b.State(ctxT(t, 5*time.Second))
	t.Logf("wd %+v %v", w, err)
}
