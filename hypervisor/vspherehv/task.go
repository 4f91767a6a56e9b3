package vspherehv

import (
	"context"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// waitTask polls a task's info until it ends: one cheap call per poll,
// the first at once, then backing off from 5 ms to 500 ms. govmomi's own
// Wait creates and destroys a PropertyCollector each time (four calls or
// more), which dominated a takeover's time on the simulator.
func (h *Hypervisor) waitTask(ctx context.Context, t *object.Task) (*types.TaskInfo, error) {
	pc := property.DefaultCollector(h.vc)
	delay := 5 * time.Millisecond
	for {
		var m mo.Task
		if err := pc.RetrieveOne(ctx, t.Reference(), []string{"info"}, &m); err != nil {
			return nil, err
		}
		switch m.Info.State {
		case types.TaskInfoStateSuccess:
			return &m.Info, nil
		case types.TaskInfoStateError:
			if m.Info.Error == nil {
				m.Info.Error = &types.LocalizedMethodFault{Fault: &types.SystemError{}, LocalizedMessage: "task failed without a fault"}
			}
			return &m.Info, task.Error{LocalizedMethodFault: m.Info.Error, Description: m.Info.Description}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// run calls a task-returning method and waits for the task.
func (h *Hypervisor) run(ctx context.Context, call func(context.Context) (*object.Task, error)) (*types.TaskInfo, error) {
	t, err := call(ctx)
	if err != nil {
		return nil, err
	}
	return h.waitTask(ctx, t)
}
