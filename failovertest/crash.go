package failovertest

import (
	"context"
	"errors"
	"fmt"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/rack"
)

// errCrashed is what a crashed monitor's calls return: the process is gone.
var errCrashed = errors.New("failovertest: monitor crashed")

var errStoreDown = errors.New("failovertest: image store unavailable")

// crashSwitch kills a monitor after a given number of calls to the store,
// the hypervisors and the rack manager's power control: the call that
// reaches the count is carried out, every later one fails. This puts a
// crash at any point of a takeover.
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
	r    *Rack
	sw   *crashSwitch
	from *Server
}

func (c crashStore) enter() error {
	if err := c.sw.before(); err != nil {
		return err
	}
	if c.r.storeDown || c.from.isolated {
		c.sw.after()
		return errStoreDown
	}
	return nil
}

func (c crashStore) Get(ctx context.Context, name string) (imagestore.Image, error) {
	if err := c.enter(); err != nil {
		return imagestore.Image{}, err
	}
	defer c.sw.after()
	return c.r.Store.Get(ctx, name)
}

func (c crashStore) List(ctx context.Context) ([]imagestore.Image, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.sw.after()
	return c.r.Store.List(ctx)
}

func (c crashStore) Put(ctx context.Context, img imagestore.Image) (imagestore.Image, error) {
	if err := c.enter(); err != nil {
		return imagestore.Image{}, err
	}
	defer c.sw.after()
	return c.r.Store.Put(ctx, img)
}

// hv is what the simulated hypervisors offer.
type hv interface {
	hypervisor.Hypervisor
	hypervisor.Checkpointer
	hypervisor.CapacityReporter
}

// crashHV is owner's hypervisor as viewer's monitor sees it. It checks
// the invariants of every start and checkpoint.
type crashHV struct {
	r             *Rack
	h             hv
	sw            *crashSwitch
	viewer, owner string
}

func (c crashHV) enter() error {
	if err := c.sw.before(); err != nil {
		return err
	}
	if c.viewer != c.owner && c.r.partitions[[2]string{c.viewer, c.owner}] {
		c.sw.after()
		return fmt.Errorf("failovertest: %s cannot reach %s: %w", c.viewer, c.owner, hypervisor.ErrUnreachable)
	}
	return nil
}

func (c crashHV) Start(ctx context.Context, img imagestore.Image) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.sw.after()
	c.r.beforeStart(c.owner, img)
	err := c.h.Start(ctx, img)
	if err == nil {
		c.r.started(c.owner, img)
	}
	c.r.checkUnique(img.Name)
	return err
}

func (c crashHV) Stop(ctx context.Context, name string) error {
	if err := c.enter(); err != nil {
		return err
	}
	defer c.sw.after()
	return c.h.Stop(ctx, name)
}

func (c crashHV) State(ctx context.Context, name string) (hypervisor.VMState, error) {
	if err := c.enter(); err != nil {
		return hypervisor.StateUnknown, err
	}
	defer c.sw.after()
	return c.h.State(ctx, name)
}

func (c crashHV) List(ctx context.Context) ([]hypervisor.VM, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.sw.after()
	return c.h.List(ctx)
}

func (c crashHV) Checkpoint(ctx context.Context, name string) (string, error) {
	if err := c.enter(); err != nil {
		return "", err
	}
	defer c.sw.after()
	ref, err := c.h.Checkpoint(ctx, name)
	if err == nil {
		c.r.ckptAt[ref] = c.r.Now()
	}
	return ref, err
}

func (c crashHV) FreeCapacity(ctx context.Context) (hypervisor.Capacity, error) {
	if err := c.enter(); err != nil {
		return hypervisor.Capacity{}, err
	}
	defer c.sw.after()
	return c.h.FreeCapacity(ctx)
}

// crashManager is the rack manager as one monitor sees it; a partition
// between the monitor and a server's BMC, or the rack manager being down,
// makes power calls fail.
type crashManager struct {
	r    *Rack
	sw   *crashSwitch
	from string
}

func (c crashManager) Watch(ctx context.Context, watcher string) (<-chan rack.Status, error) {
	return c.r.Manager.Watch(ctx, watcher)
}

func (c crashManager) Power(ctx context.Context, server string, action bmc.PowerAction) error {
	if err := c.sw.before(); err != nil {
		return err
	}
	defer c.sw.after()
	switch {
	case c.r.managerDown:
		return fmt.Errorf("failovertest: rack manager down: %w", bmc.ErrUnreachable)
	case c.r.partitions[[2]string{c.from, server}]:
		return fmt.Errorf("failovertest: %s cannot reach the BMC of %s: %w", c.from, server, bmc.ErrUnreachable)
	}
	return c.r.Manager.Power(ctx, server, action)
}
