package failovertest

import (
	"context"
	"errors"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
)

// errCrashed is what a crashed monitor's calls return: the process is gone.
var errCrashed = errors.New("failovertest: monitor crashed")

// crashSwitch kills a monitor after a given number of calls to the store,
// the hypervisors and the rack manager's power control: the call that reaches the count is carried out, every
// later one fails. This puts a crash at any point of a takeover.
type crashSwitch struct {
	ops, at int
	crashed bool
}

func (c *crashSwitch) before() error {
	if c.crashed {
		return errCrashed
	}
	return nil
}

func (c *crashSwitch) after() {
	c.ops++
	if c.at > 0 && c.ops >= c.at {
		c.crashed = true
	}
}

// crashStore is the store as one monitor sees it.
type crashStore struct {
	s  imagestore.Store
	sw *crashSwitch
}

func (c crashStore) Get(ctx context.Context, name string) (imagestore.Image, error) {
	if err := c.sw.before(); err != nil {
		return imagestore.Image{}, err
	}
	defer c.sw.after()
	return c.s.Get(ctx, name)
}

func (c crashStore) List(ctx context.Context) ([]imagestore.Image, error) {
	if err := c.sw.before(); err != nil {
		return nil, err
	}
	defer c.sw.after()
	return c.s.List(ctx)
}

func (c crashStore) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	if err := c.sw.before(); err != nil {
		return imagestore.Image{}, err
	}
	defer c.sw.after()
	return c.s.Put(ctx, img)
}

// hv is what the simulated hypervisors offer.
type hv interface {
	hypervisor.Hypervisor
	hypervisor.Checkpointer
	hypervisor.CapacityReporter
}

// crashHV is a hypervisor as one monitor sees it; it also checks, after
// every start, that the VM runs nowhere else.
type crashHV struct {
	h     hv
	sw    *crashSwitch
	check func(name string)
	wait  func(time.Duration)
	lat   Latency
}

func (c crashHV) Start(ctx context.Context, img imagestore.Image) error {
	if err := c.sw.before(); err != nil {
		return err
	}
	defer c.sw.after()
	c.wait(c.lat.Start)
	err := c.h.Start(ctx, img)
	c.check(img.Name)
	return err
}

func (c crashHV) Stop(ctx context.Context, name string) error {
	if err := c.sw.before(); err != nil {
		return err
	}
	defer c.sw.after()
	return c.h.Stop(ctx, name)
}

func (c crashHV) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	if err := c.sw.before(); err != nil {
		return hypervisor.StateUnknown, err
	}
	defer c.sw.after()
	return c.h.State(ctx, name)
}

func (c crashHV) List(ctx context.Context) ([]hypervisor.VM, error) {
	if err := c.sw.before(); err != nil {
		return nil, err
	}
	defer c.sw.after()
	return c.h.List(ctx)
}

func (c crashHV) Checkpoint(ctx context.Context, name string) (string, error) {
	if err := c.sw.before(); err != nil {
		return "", err
	}
	defer c.sw.after()
	c.wait(c.lat.Checkpoint)
	return c.h.Checkpoint(ctx, name)
}

func (c crashHV) FreeCapacity(ctx context.Context) (hypervisor.Capacity, error) {
	if err := c.sw.before(); err != nil {
		return hypervisor.Capacity{}, err
	}
	defer c.sw.after()
	return c.h.FreeCapacity(ctx)
}

// crashManager is the rack manager as one monitor sees it.
type crashManager struct {
	m    rack.Manager
	sw   *crashSwitch
	wait func()
}

func (c crashManager) Watch(ctx context.Context, watcher string) (<-chan rack.Status, error) {
	return c.m.Watch(ctx, watcher)
}

func (c crashManager) Power(ctx context.Context, server string, action bmc.PowerAction) error {
	if err := c.sw.before(); err != nil {
		return err
	}
	defer c.sw.after()
	err := c.m.Power(ctx, server, action)
	c.wait()
	return err
}
