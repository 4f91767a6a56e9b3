package failovertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// Inject applies f now. A real failure records the VMs the server owns at
// this moment, so the checker can follow each of them.
func (r *Rack) Inject(f Fault) error {
	s := r.byName[f.Server]
	if s == nil && f.Kind != ManagerCrash && f.Kind != StoreSlow && f.Kind != StoreDown {
		return fmt.Errorf("failovertest: inject %s: no server %q", f.Kind, f.Server)
	}
	if f.Kind == Partition && r.byName[f.Watcher] == nil {
		return fmt.Errorf("failovertest: inject %s: no watcher %q", f.Kind, f.Watcher)
	}
	if f.For <= 0 {
		f.For = r.cfg.PollInterval
	}
	in := &injected{Fault: f, at: r.Now()}
	if f.Kind.Real() {
		imgs, err := imagestore.OwnedBy(context.Background(), r.Store, f.Server)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			in.vms = append(in.vms, img.Name)
		}
	}
	switch f.Kind {
	case PowerLoss:
		s.BMC.LosePower()
		in.until = r.Now().Add(f.For)
	case BladeFault:
		s.BMC.SetFault(true, "CPU0 IERR: machine check")
		s.hang()
	case VoltageSag:
		if err := s.BMC.SetValue("P12V", 10.5); err != nil {
			return err
		}
	case Overheat:
		if err := s.BMC.SetValue("CPU0 Temp", 97); err != nil {
			return err
		}
	case HangOS:
		s.hang()
	case Unreachable:
		s.BMC.SetUnreachable(true)
		in.until = r.Now().Add(f.For)
	case FenceFails:
		s.BMC.FailPower(errors.New("chassis control refused: completion code 0xd5"))
		in.until = r.Now().Add(f.For)
	case FenceIndeterminate:
		s.BMC.FailPower(fmt.Errorf("chassis control: answer lost: %w", bmc.ErrIndeterminate))
		in.until = r.Now().Add(f.For)
	case LyingBMC:
		s.lies, s.offLag = true, f.Lag
		in.until = r.Now().Add(f.For)
	case MonitorCrash:
		if m := s.mon.live(); m != nil {
			if f.AfterCalls > 0 {
				m.sw.at = m.sw.ops + f.AfterCalls
			} else {
				m.crashAtStep = true
			}
		}
	case Partition:
		r.partitions[[2]string{f.Watcher, f.Server}] = true
		in.until = r.Now().Add(f.For)
	case ManagerCrash:
		r.managerDown = true
		in.until = r.Now().Add(f.For)
	case StoreSlow:
		r.storeSlow = true
		in.until = r.Now().Add(f.For)
	case StoreDown:
		r.storeDown = true
		in.until = r.Now().Add(f.For)
	case StartFails:
		s.HV.FailStart(fmt.Errorf("datastore briefly unavailable: %w", hypervisor.ErrUnreachable))
		in.until = r.Now().Add(f.For)
	case Noise:
		if err := s.BMC.SetValue("CPU1 Temp", 96); err != nil {
			return err
		}
		in.until = r.Now().Add(f.For)
	case TotalPowerLoss, Isolated, LeaseCut, LeaseBlip:
		if !r.leasesOn() {
			return fmt.Errorf("failovertest: inject %s: the rack has no lease store (Config.LeaseTTL)", f.Kind)
		}
		switch f.Kind {
		case TotalPowerLoss:
			s.BMC.SetUnreachable(true)
			s.BMC.LosePower()
		case Isolated:
			s.isolated = true
			s.lease.cuts++
			s.BMC.SetUnreachable(true)
			s.HV.SetUnreachable(true)
		default:
			s.lease.cuts++
		}
		in.until = r.Now().Add(f.For)
	default:
		return fmt.Errorf("failovertest: unknown fault kind %q", f.Kind)
	}
	r.faults = append(r.faults, in)
	if !in.until.IsZero() {
		r.at(in.until, func() {
			if !in.over {
				in.over = true
				r.undo(in)
			}
		})
	}
	return nil
}

// undo ends a transient fault.
func (r *Rack) undo(f *injected) {
	s := r.byName[f.Server]
	switch f.Kind {
	case LyingBMC:
		s.lies, s.offLag = false, 0
		if s.up && !s.pendingOff {
			// Nobody fenced it during the lie: the server was healthy all
			// along, and its VMs run where they ran.
			f.ended, f.judged = r.Now(), true
		}
	case Partition:
		delete(r.partitions, [2]string{f.Watcher, f.Server})
	case ManagerCrash:
		r.managerDown = false
		if err := r.newManager(); err != nil {
			r.violate("restart rack manager: %v", err)
		}
	case StoreSlow:
		r.storeSlow = false
	case StoreDown:
		r.storeDown = false
	case PowerLoss:
		s.BMC.RestorePower()
	case Unreachable:
		s.BMC.SetUnreachable(false)
	case FenceFails, FenceIndeterminate:
		s.BMC.FailPower(nil)
	case StartFails:
		s.HV.FailStart(nil)
	case Noise:
		if err := s.BMC.SetValue("CPU1 Temp", s.baseline["CPU1 Temp"]); err != nil {
			r.violate("end noise on %s: %v", s.Name, err)
		}
	case TotalPowerLoss:
		s.BMC.RestorePower()
		s.BMC.SetUnreachable(false)
	case Isolated:
		s.isolated = false
		s.lease.cuts--
		s.BMC.SetUnreachable(false)
		if s.up && !s.hung {
			s.HV.SetUnreachable(false)
		}
	case LeaseCut, LeaseBlip:
		s.lease.cuts--
	}
}

// hang stops the OS: its VMs keep running, but nothing on it answers,
// its hypervisor included, and its watchdog is no longer kicked.
func (s *Server) hang() {
	s.hung = true
	s.HV.SetUnreachable(true)
}
