package failover

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore/memstore"
	"github.com/rackha/failover/rack"
)

// The zero Policy means DefaultPolicy(); any other is kept as given.
func TestNewMonitorPolicyDefaults(t *testing.T) {
	hv, err := memhv.New(memhv.DefaultConfig("b2"))
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := rack.NewLocal(rack.LocalConfig{Topology: must(rack.Pairs("b1", "b2")), Servers: []rack.Server{{Name: "b1"}, {Name: "b2"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Server: "b2", Manager: mgr, Store: memstore.New(), Hypervisor: hv}
	m, err := NewMonitor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(DefaultPolicy(), m.cfg.Policy); d != "" {
		t.Errorf("zero Policy became (-want +got):\n%s", d)
	}
	if m.engine.p.MaxParallelStarts != DefaultPolicy().MaxParallelStarts {
		t.Errorf("engine policy %+v", m.engine.p)
	}
	cfg.Policy = DefaultPolicy()
	cfg.Policy.Evacuate, cfg.Policy.FenceSettle, cfg.Policy.DebounceDwell = false, 0, 0
	m, err = NewMonitor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(cfg.Policy, m.cfg.Policy); d != "" {
		t.Errorf("a Policy given was changed (-given +used):\n%s", d)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
