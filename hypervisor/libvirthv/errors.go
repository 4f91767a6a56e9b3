package libvirthv

import (
	"errors"
	"strings"

	"libvirt.org/go/libvirt"
)

// ErrClosed is returned by calls on a closed Hypervisor.
var ErrClosed = errors.New("failover: libvirt hypervisor closed")

func virCode(err error) (libvirt.ErrorNumber, libvirt.ErrorDomain, bool) {
	var le libvirt.Error
	if errors.As(err, &le) {
		return le.Code, le.Domain, true
	}
	return 0, 0, false
}

func isNoDomain(err error) bool {
	code, _, ok := virCode(err)
	return ok && code == libvirt.ERR_NO_DOMAIN
}

// isNotRunning reports libvirt's refusals to act on an inactive domain.
func isNotRunning(err error) bool {
	code, _, ok := virCode(err)
	if !ok {
		return false
	}
	var le libvirt.Error
	errors.As(err, &le)
	return code == libvirt.ERR_OPERATION_INVALID || (code == libvirt.ERR_INTERNAL_ERROR && containsFold(le.Message, "not running"))
}

// isConnLost reports errors that mean the connection itself is gone.
func isConnLost(err error) bool {
	code, dom, ok := virCode(err)
	if !ok {
		return false
	}
	switch code {
	case libvirt.ERR_NO_CONNECT, libvirt.ERR_INVALID_CONN, libvirt.ERR_RPC:
		return true
	case libvirt.ERR_SYSTEM_ERROR, libvirt.ERR_INTERNAL_ERROR, libvirt.ERR_OPERATION_FAILED:
		return dom == libvirt.FROM_RPC || dom == libvirt.FROM_REMOTE
	}
	return false
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func asVir(err error, le *libvirt.Error) bool { return errors.As(err, le) }

func isNoSupport(err error) bool {
	code, _, ok := virCode(err)
	return ok && code == libvirt.ERR_NO_SUPPORT
}
