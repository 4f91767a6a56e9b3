package vspherehv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/rackha/failover/hypervisor"
)

// faultOf returns the vSphere fault inside err (a SOAP fault or a failed
// task), or nil.
func faultOf(err error) types.BaseMethodFault {
	var te task.Error
	if errors.As(err, &te) {
		return te.Fault()
	}
	var pte *task.Error
	if errors.As(err, &pte) && pte != nil {
		return pte.Fault()
	}
	if soap.IsSoapFault(err) {
		if f, ok := soap.ToSoapFault(err).VimFault().(types.BaseMethodFault); ok {
			return f
		}
	}
	if soap.IsVimFault(err) {
		return soap.ToVimFault(err)
	}
	return nil
}

// sentinelFor picks the hypervisor sentinel that matches err, or def.
func sentinelFor(err error, def error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return hypervisor.ErrUnreachable
	}
	switch faultOf(err).(type) {
	case nil:
	case *types.ManagedObjectNotFound:
		return hypervisor.ErrNotFound
	case *types.NotAuthenticated, *types.InvalidLogin:
		return hypervisor.ErrUnreachable
	case *types.InsufficientResourcesFault, *types.InsufficientMemoryResourcesFault,
		*types.InsufficientCpuResourcesFault, *types.InsufficientHostCapacityFault:
		return hypervisor.ErrNoCapacity
	case *types.HostNotConnected, *types.HostNotReachable, *types.HostCommunication,
		*types.InvalidHostState, *types.InvalidHostConnectionState:
		return hypervisor.ErrHostDown
	case *types.AlreadyExists, *types.DuplicateName:
		return hypervisor.ErrNameTaken
	case *types.NotFound, *types.FileNotFound, *types.InvalidDatastorePath,
		*types.InvalidDatastore, *types.FileAlreadyExists, *types.InvalidVmConfig:
		return hypervisor.ErrBadImage
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) {
		return hypervisor.ErrUnreachable
	}
	return def
}

// wrap makes the adapter's error: what was done, the sentinel, the cause.
func wrap(err error, def error, format string, args ...any) error {
	return fmt.Errorf("vspherehv: %s: %w: %w", fmt.Sprintf(format, args...), sentinelFor(err, def), err)
}
