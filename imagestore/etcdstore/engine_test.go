package etcdstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/internal/etcdrig"
	"github.com/rackha/failover/rack"
)

// noManager stands in for the rack manager: this test answers fences and
// restarts itself, so the Executor never calls it.
type noManager struct{}

func (noManager) Watch(context.Context, string) (<-chan rack.Status, error) {
	return nil, errors.New("noManager: not used")
}
func (noManager) Power(context.Context, string, bmc.PowerAction) error {
	return errors.New("noManager: not used")
}

// The failover engine and its Executor over an etcd store whose first
// claim's answer is lost after etcd applied it: the engine retries the
// claim, finds the image already its own, starts the backup once, and the
// image moved exactly once.
func TestEngineResolvesLostClaim(t *testing.T) {
	pt := newPartitioned(t) // vm1 owned by blade-a, generation 1
	hv, err := memhv.New(memhv.DefaultConfig("blade-b"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := failover.NewExecutor(failover.Config{Server: "blade-b", Manager: noManager{}, Store: pt.store, Hypervisor: hv, ActionTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	policy := failover.DefaultPolicy()
	e, err := failover.NewEngine("blade-b", policy)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var queue []failover.Action
	var started, claims int
	step := func(in failover.Input) {
		in.Time = now
		for _, a := range e.Step(in) {
			if a.Kind == failover.ActionNotify {
				t.Logf("event %v %s %s: %s", a.Event.Type, a.Event.Server, a.Event.VM, a.Event.Message)
				if a.Event.Type == failover.EventBackupStarted && a.Event.VM == "vm1" {
					started++
				}
				continue
			}
			queue = append(queue, a)
		}
	}
	off := &rack.Status{Server: "blade-a", Reachable: true, Health: bmc.Health{Power: bmc.PowerOff}}
	for range 3 {
		step(failover.Input{Kind: failover.InputStatus, Status: off})
		now = now.Add(time.Second)
	}
	for i := 0; started == 0 && i < 50; i++ {
		if len(queue) == 0 { // waiting for a retry: let time pass
			now = now.Add(policy.RetryInterval)
			step(failover.Input{Kind: failover.InputStatus, Status: off})
			step(failover.Input{Kind: failover.InputTick})
			continue
		}
		a := queue[0]
		queue = queue[1:]
		var in failover.Input
		switch a.Kind {
		case failover.ActionFence:
			in = failover.Input{ID: a.ID, Kind: failover.InputFenced}
		case failover.ActionProbe:
			in = failover.Input{ID: a.ID, Kind: failover.InputProbed, State: hypervisor.StateStopped}
		case failover.ActionRestart:
			in = failover.Input{ID: a.ID, Kind: failover.InputRestarted}
		case failover.ActionClaim:
			claims++
			if claims > 1 {
				in = x.Do(context.Background(), a)
				break
			}
			pt.proxy.Set(etcdrig.LoseAnswers)
			done := make(chan failover.Input, 1)
			go func() { done <- x.Do(context.Background(), a) }()
			waitUntil(t, "the first claim applied in etcd", generationIs(t, pt.observer, pt.base.Generation+1))
			pt.proxy.Cut(etcdrig.Pass)
			in = <-done
			mustBeUnknown(t, in.Err)
		default: // inventory, start: the real IO
			in = x.Do(context.Background(), a)
		}
		step(in)
		if a.Kind == failover.ActionFence {
			now = now.Add(policy.FenceSettle)
			step(failover.Input{Kind: failover.InputTick})
		}
	}
	if started != 1 || claims != 2 {
		t.Fatalf("backup started %d times after %d claims, want once after 2 (the lost one and its resolution)", started, claims)
	}
	if st, err := hv.State(context.Background(), "vm1"); err != nil || st != hypervisor.StateRunning {
		t.Fatalf("vm1 on blade-b: %v, %v; want running", st, err)
	}
	checkClaimedOnce(t, pt.observer, pt.base, "blade-b")
}
