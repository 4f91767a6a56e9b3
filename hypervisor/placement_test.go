package hypervisor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
)

func TestPlacementFindsAVMRunningTwice(t *testing.T) {
	ctx := context.Background()
	storage := memhv.NewStorage()
	hvs := map[string]hypervisor.Hypervisor{}
	for _, name := range []string{"a", "b"} {
		h, err := memhv.New(memhv.Config{Name: name, Capacity: hypervisor.Capacity{MemoryMiB: 8192, CPUs: 8}, Storage: storage})
		if err != nil {
			t.Fatal(err)
		}
		hvs[name] = h
	}
	start := func(server, vm string) {
		if err := hvs[server].Start(ctx, imagestore.Image{Name: vm, Definition: []byte("x"), Owner: server, MemoryMiB: 512, CPUs: 1}); err != nil {
			t.Fatal(err)
		}
	}
	start("a", "web")
	start("b", "db")
	where, err := hypervisor.Placement(ctx, hvs)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string][]string{"web": {"a"}, "db": {"b"}}, where); d != "" {
		t.Errorf("placement (-want +got):\n%s", d)
	}
	if err := hypervisor.CheckPlacement(where); err != nil {
		t.Errorf("CheckPlacement = %v", err)
	}
	start("b", "web")
	where, _ = hypervisor.Placement(ctx, hvs)
	err = hypervisor.CheckPlacement(where)
	if !errors.Is(err, hypervisor.ErrRunsTwice) || err.Error() != "failover: VM runs on more than one server: web on a and b" {
		t.Errorf("CheckPlacement = %v", err)
	}
	hvs["a"].(*memhv.Hypervisor).SetUnreachable(true)
	if _, err := hypervisor.Placement(ctx, hvs); !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Errorf("Placement with a host unreachable = %v, want ErrUnreachable", err)
	}
}
