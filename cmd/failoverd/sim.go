package main

import (
	"context"
	"errors"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/internal/demosim"
	"github.com/rackha/failover/watchdog"
)

// demoSim reaches the demo orchestrator's simulators over its socket.
type demoSim struct {
	socket  string
	closers []interface{ Close() error }
}

func openSim(socket string) (simBackend, error) {
	if socket == "" {
		return nil, errors.New("no socket")
	}
	return &demoSim{socket: socket}, nil
}

func (s *demoSim) BMC(server string) (bmc.BMC, error) {
	b, err := demosim.NewBMC(s.socket, server)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, b)
	return b, nil
}

func (s *demoSim) Hypervisor(server string) (hypervisor.Hypervisor, error) {
	h, err := demosim.NewHypervisor(s.socket, server)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, h)
	return h, nil
}

func (s *demoSim) Watchdog(server string) (watchdog.Watchdog, error) {
	w, err := demosim.NewInBand(s.socket, server)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, w)
	b, err := demosim.NewBMC(s.socket, server)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, b)
	return simInBand{InBand: w, lan: b}, nil
}

// simInBand is the simulated in-band watchdog, which has no Disarm of
// its own (simbmc's in-band side has none); a clean stop disarms it
// through the BMC's LAN side, as a real BMC's in-band interface
// (ipmibmc) disarms. Kicks stay in-band, working while the BMC is
// unreachable from the network.
type simInBand struct {
	*demosim.InBand
	lan *demosim.BMC
}

func (w simInBand) Disarm(ctx context.Context) error { return w.lan.Disarm(ctx) }

func (s *demoSim) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
