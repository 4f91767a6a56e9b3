package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc"
	"github.com/rackha/failover/bmc/redfishbmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/libvirthv"
	"github.com/rackha/failover/hypervisor/vspherehv"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/watchdog"
)

// simBackend is the demo's simulator, reached over its socket: kind sim
// BMCs, hypervisors and watchdogs.
type simBackend interface {
	BMC(server string) (bmc.BMC, error)
	Hypervisor(server string) (hypervisor.Hypervisor, error)
	Watchdog(server string) (watchdog.Watchdog, error)
	Close() error
}

// adapters opens what a role needs and closes it all at the end.
type adapters struct {
	cfg     *Config
	log     *slog.Logger
	sim     simBackend
	closers []io.Closer
}

func (a *adapters) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i].Close())
	}
	a.closers = nil
	return errors.Join(errs...)
}

func (a *adapters) simulator() (simBackend, error) {
	if a.sim == nil {
		s, err := openSim(a.cfg.Demo.Socket)
		if err != nil {
			return nil, a.cfg.errAt("demo.socket", "cannot reach the demo's simulator", err)
		}
		a.sim = s
		a.closers = append(a.closers, s)
	}
	return a.sim, nil
}

// rackServer is server i as the rack manager polls it.
func (a *adapters) rackServer(ctx context.Context, i int) (rack.Server, error) {
	spec, err := a.cfg.bmcSpec(i, a.cfg.readSecret)
	if err != nil {
		return rack.Server{}, err
	}
	name := a.cfg.Servers[i].Name
	switch spec.Kind {
	case "ipmi":
		spec.IPMI.Logger = a.log.With("server", name)
		b, err := ipmibmc.New(spec.IPMI)
		if err != nil {
			return rack.Server{}, fmt.Errorf("server %s: BMC: %w", name, err)
		}
		a.closers = append(a.closers, b)
		return rack.Server{Name: name, Sensors: b, Health: b, Watchdog: b, Power: b}, nil
	case "redfish":
		spec.Redfish.Logger = a.log.With("server", name)
		// Opening logs in: a BMC down now is opened later, at a poll.
		cfg := spec.Redfish
		b := newLazyBMC(name, 5*time.Second, func(ctx context.Context) (redfishBMC, error) { return redfishbmc.Open(ctx, cfg) })
		if _, err := b.get(ctx); err != nil {
			a.log.Warn("failoverd: BMC not reached; polling reports it unreachable until it answers", "server", name, "err", err)
		}
		a.closers = append(a.closers, b)
		// A Redfish BMC has no watchdog of its own here; the monitor's
		// in-band watchdog expiry shows as power off or a fault.
		return rack.Server{Name: name, Sensors: b, Health: b, Power: b}, nil
	}
	sim, err := a.simulator()
	if err != nil {
		return rack.Server{}, err
	}
	b, err := sim.BMC(name)
	if err != nil {
		return rack.Server{}, fmt.Errorf("server %s: simulated BMC: %w", name, err)
	}
	return rack.Server{Name: name, Sensors: b, Health: b, Watchdog: b, Power: b}, nil
}

// hypervisor opens server i's hypervisor, its own (remote false) or as a
// peer reaches it; nil when a peer cannot.
func (a *adapters) hypervisor(ctx context.Context, i int, remote bool) (hypervisor.Hypervisor, error) {
	spec, err := a.cfg.hypervisorSpec(i, remote, a.cfg.readSecret)
	if err != nil {
		return nil, err
	}
	name := a.cfg.Servers[i].Name
	switch spec.Kind {
	case "":
		return nil, nil
	case "libvirt":
		h, err := libvirthv.New(spec.Libvirt)
		if err != nil {
			return nil, fmt.Errorf("server %s: hypervisor: %w", name, err)
		}
		a.closers = append(a.closers, h)
		return h, nil
	case "vsphere":
		if spec.CAFile != "" {
			pem, err := os.ReadFile(spec.CAFile)
			if err != nil {
				return nil, a.cfg.errAt(fmt.Sprintf("servers[%d].hypervisor.ca_file", i), "cannot read", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, a.cfg.errAt(fmt.Sprintf("servers[%d].hypervisor.ca_file", i), "holds no PEM certificate", nil)
			}
			spec.VSphere.RootCAs = pool
		}
		spec.VSphere.Logger = a.log.With("server", name)
		cfg := spec.VSphere
		if remote {
			// A peer: opened (logged in) when first needed, so a vCenter
			// down now is tried again later.
			l := &lazyHypervisor{name: name, retry: 10 * time.Second, open: func(ctx context.Context) (peerHypervisor, error) { return vspherehv.New(ctx, cfg) }}
			a.closers = append(a.closers, l)
			return l, nil
		}
		h, err := vspherehv.New(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("server %s: hypervisor: %w", name, err)
		}
		a.closers = append(a.closers, h)
		return h, nil
	}
	sim, err := a.simulator()
	if err != nil {
		return nil, err
	}
	h, err := sim.Hypervisor(name)
	if err != nil {
		return nil, fmt.Errorf("server %s: simulated hypervisor: %w", name, err)
	}
	return h, nil
}

// watchdog opens server i's watchdog; nil for kind none.
func (a *adapters) watchdog(i int, spec watchdogSpec) (watchdog.Watchdog, error) {
	name := a.cfg.Servers[i].Name
	switch spec.Kind {
	case "none":
		return nil, nil
	case "ipmi-inband", "ipmi-lan":
		spec.IPMI.Logger = a.log.With("server", name)
		b, err := ipmibmc.New(spec.IPMI)
		if err != nil {
			return nil, fmt.Errorf("server %s: watchdog: %w", name, err)
		}
		a.closers = append(a.closers, b)
		return b, nil
	}
	sim, err := a.simulator()
	if err != nil {
		return nil, err
	}
	w, err := sim.Watchdog(name)
	if err != nil {
		return nil, fmt.Errorf("server %s: simulated watchdog: %w", name, err)
	}
	return w, nil
}
