package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/filestore"
	"github.com/rackha/failover/internal/demosim"
)

// demoHardware is the demo's simulated rack, held in the demo's own
// process and served to the rack manager and monitors over a unix socket
// (demosim), so those processes can be killed and restarted while the
// hardware keeps its state.
type demoHardware struct {
	names    []string
	bmcs     map[string]*simbmc.BMC
	hvs      map[string]*memhv.Hypervisor
	storage  *memhv.Storage
	store    *filestore.Store
	socket   string
	baseline map[string]float64 // sensor values of a healthy server
	power    chan powerChange   // every power change, in order

	mu    sync.Mutex
	twice map[string]string // VM -> the hosts it was seen running on at once
}

type powerChange struct {
	server string
	state  bmc.PowerState
	at     time.Time
}

// newDemoHardware builds servers with vms VMs each, their images in a
// file store under dir, and every VM running on its owner.
func newDemoHardware(ctx context.Context, dir string, servers, vms int) (*demoHardware, error) {
	h := &demoHardware{bmcs: map[string]*simbmc.BMC{}, hvs: map[string]*memhv.Hypervisor{}, storage: memhv.NewStorage(),
		socket: filepath.Join(dir, "sim.sock"), baseline: map[string]float64{}, power: make(chan powerChange, 256)}
	for _, r := range simbmc.DefaultReadings() {
		h.baseline[r.Name] = r.Value
	}
	const vmMiB, vmCPUs = 2048, 2
	// Room for every VM of the rack on any one server, as in the
	// quickstart, so successive takeovers never run out of capacity.
	capacity := hypervisor.Capacity{MemoryMiB: int64(servers*vms) * vmMiB, CPUs: servers * vms * vmCPUs}
	store, err := filestore.Open(filepath.Join(dir, "images"))
	if err != nil {
		return nil, err
	}
	h.store = store
	for i := range servers {
		name := fmt.Sprintf("s%d", i+1)
		h.names = append(h.names, name)
		bcfg := simbmc.DefaultConfig(name)
		bcfg.OnPower = func(p bmc.PowerState) {
			select { // called with the BMC's lock held: never block
			case h.power <- powerChange{name, p, time.Now()}:
			default:
			}
		}
		b, hv, err := demosim.NewHost(bcfg, memhv.Config{Name: name, Capacity: capacity, Storage: h.storage})
		if err != nil {
			return nil, err
		}
		h.bmcs[name], h.hvs[name] = b, hv
		for v := range vms {
			img := imagestore.Image{
				Name:       fmt.Sprintf("%s-vm%d", name, v+1),
				Definition: []byte(fmt.Sprintf(`{"vm":"%s-vm%d"}`, name, v+1)),
				Disks:      []string{fmt.Sprintf("shared://%s-vm%d.qcow2", name, v+1)},
				Owner:      name, Priority: vms - v, MemoryMiB: vmMiB, CPUs: vmCPUs,
			}
			stored, err := store.Put(ctx, img)
			if err != nil {
				return nil, err
			}
			if err := hv.Start(ctx, stored); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// serve serves the simulators on the socket until ctx ends.
func (h *demoHardware) serve(ctx context.Context) (<-chan error, error) {
	ln, err := net.Listen("unix", h.socket)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- demosim.Serve(ctx, ln, h.bmcs, h.hvs) }()
	return done, nil
}

// resetSensors puts server's sensors back to healthy values: a power
// cycle ends a sag or an overheat in the demo.
func (h *demoHardware) resetSensors(server string) error {
	for name, v := range h.baseline {
		if err := h.bmcs[server].SetValue(name, v); err != nil {
			return err
		}
	}
	return nil
}

// watchTwice samples every host until ctx ends and records any VM seen
// running on two hosts at once.
func (h *demoHardware) watchTwice(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for vm, hosts := range h.storage.RunningAll() {
			if len(hosts) > 1 {
				h.mu.Lock()
				if h.twice == nil {
					h.twice = map[string]string{}
				}
				h.twice[vm] = fmt.Sprint(hosts)
				h.mu.Unlock()
			}
		}
	}
}

// check says whether every VM of the store runs exactly once, on its
// owner, and never ran twice during the demo.
func (h *demoHardware) check(ctx context.Context) (int, error) {
	h.mu.Lock()
	var twice []string
	for vm, hosts := range h.twice {
		twice = append(twice, vm+" on "+hosts)
	}
	h.mu.Unlock()
	slices.Sort(twice)
	if len(twice) > 0 {
		return 0, fmt.Errorf("VMs ran twice at once: %v", twice)
	}
	imgs, err := h.store.List(ctx)
	if err != nil {
		return 0, err
	}
	running := h.storage.RunningAll()
	var problems []string
	for _, img := range imgs {
		hosts := running[img.Name]
		switch {
		case len(hosts) == 0:
			problems = append(problems, fmt.Sprintf("%s runs nowhere (owner %s)", img.Name, img.Owner))
		case len(hosts) > 1:
			problems = append(problems, fmt.Sprintf("%s runs on %v", img.Name, hosts))
		case hosts[0] != img.Owner:
			problems = append(problems, fmt.Sprintf("%s runs on %s but its owner is %s", img.Name, hosts[0], img.Owner))
		}
	}
	if len(problems) > 0 {
		return 0, fmt.Errorf("not every VM runs exactly once: %v", problems)
	}
	return len(imgs), nil
}

// owned lists the VMs server owns now.
func (h *demoHardware) owned(ctx context.Context, server string) ([]string, error) {
	imgs, err := imagestore.OwnedBy(ctx, h.store, server)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, img := range imgs {
		names = append(names, img.Name)
	}
	return names, nil
}
