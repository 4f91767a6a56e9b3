package demosim

import (
	"context"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor/memhv"
)

// bmcOps are the BMC's operations as its network interface offers them.
var bmcOps = map[string]op[*simbmc.BMC]{
	"readings": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		rs, err := b.Readings(ctx)
		return rs, err
	},
	"health": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		h, err := b.Health(ctx)
		return h, err
	},
	"set-power": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		var req setPowerRequest
		if err := decodeRequest(body, &req); err != nil {
			return nil, err
		}
		return struct{}{}, b.SetPower(ctx, req.Action)
	},
	"power-state": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		p, err := b.PowerState(ctx)
		return p, err
	},
	"arm": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		var req armRequest
		if err := decodeRequest(body, &req); err != nil {
			return nil, err
		}
		return struct{}{}, b.Arm(ctx, req.Timeout, req.Action)
	},
	"kick": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		return struct{}{}, b.Kick(ctx)
	},
	"watchdog-state": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		s, err := b.State(ctx)
		return s, err
	},
	"disarm": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		return struct{}{}, b.Disarm(ctx)
	},
}

// inBandOps are the watchdog as the server reaches it over its system
// interface (simbmc.BMC.InBand): they work while the BMC's network is
// down.
var inBandOps = map[string]op[*simbmc.BMC]{
	"arm": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		var req armRequest
		if err := decodeRequest(body, &req); err != nil {
			return nil, err
		}
		return struct{}{}, b.InBand().Arm(ctx, req.Timeout, req.Action)
	},
	"kick": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		return struct{}{}, b.InBand().Kick(ctx)
	},
	"watchdog-state": func(ctx context.Context, b *simbmc.BMC, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		s, err := b.InBand().State(ctx)
		return s, err
	},
}

// hvOps are the hypervisor's operations, optional interfaces included.
var hvOps = map[string]op[*memhv.Hypervisor]{
	"start": func(ctx context.Context, h *memhv.Hypervisor, body []byte) (any, error) {
		var req startRequest
		if err := decodeRequest(body, &req); err != nil {
			return nil, err
		}
		return struct{}{}, h.Start(ctx, req.Image)
	},
	"stop": func(ctx context.Context, h *memhv.Hypervisor, body []byte) (any, error) {
		var req nameRequest
		if err := decodeRequest(body, &req); err != nil {
			return nil, err
		}
		return struct{}{}, h.Stop(ctx, req.Name)
	},
	"state": func(ctx context.Context, h *memhv.Hypervisor, body []byte) (any, error) {
		var req nameRequest
		if err := decodeRequest(body, &req); err != nil {
			return nil, err
		}
		s, err := h.State(ctx, req.Name)
		return s, err
	},
	"list": func(ctx context.Context, h *memhv.Hypervisor, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		vms, err := h.List(ctx)
		return vms, err
	},
	"checkpoint": func(ctx context.Context, h *memhv.Hypervisor, body []byte) (any, error) {
		var req nameRequest
		if err := decodeRequest(body, &req); err != nil {
			return nil, err
		}
		ref, err := h.Checkpoint(ctx, req.Name)
		return checkpointResult{Ref: ref}, err
	},
	"free-capacity": func(ctx context.Context, h *memhv.Hypervisor, body []byte) (any, error) {
		if err := decodeRequest(body, &emptyRequest{}); err != nil {
			return nil, err
		}
		c, err := h.FreeCapacity(ctx)
		return c, err
	},
	"capture": func(ctx context.Context, h *memhv.Hypervisor, body []byte) (any, error) {
		var req nameRequest
		if err := decodeRequest(body, &req); err != nil {
			return nil, err
		}
		img, err := h.Capture(ctx, req.Name)
		return img, err
	},
}
