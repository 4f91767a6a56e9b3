// Package demosim serves simulated BMCs (simbmc) and hypervisors (memhv)
// from one process to others over a unix socket, for failoverd's demo and
// tests only: it is not a product API and has no security (anyone who
// can open the socket drives every simulated server).
//
// The process that owns the simulators (the demo's orchestrator) calls
// Serve; the rack manager and monitor processes reach them through BMC,
// InBand and Hypervisor clients, which implement the module's interfaces
// (bmc.BMC, watchdog.Disarmer, hypervisor.Hypervisor and its optional
// interfaces). The simulated state lives in the serving process, so a
// client process may be killed and restarted without changing it.
//
// The wire is HTTP/1.1 with JSON bodies: POST /v1/bmc/{server}/{op},
// /v1/inband/{server}/{op} and /v1/hv/{host}/{op}. Errors cross it as a
// message and the names of the sentinels they wrap (see errors.go), so
// errors.Is keeps working at the client. A call whose answer is lost after
// the request may have reached the server is reported as
// bmc.ErrIndeterminate for power and failover.ErrOutcomeUnknown for
// hypervisor changes, never as plain failure.
//
// Requests are bounded to MaxRequestBytes and answers to
// MaxResponseBytes; a malformed or oversized request gets an HTTP 4xx with
// a JSON error naming what was wrong (wrapping ErrProtocol), and the
// server keeps serving. A call without a deadline is bounded by
// DefaultCallTimeout.
//
// Faults are injected in the serving process, on the simulators
// themselves (simbmc.BMC.LosePower, SetValue, memhv.Hypervisor.
// SetUnreachable, ...); clients see them as a real BMC's or host's
// clients would.
//
// NewHost couples a simbmc.BMC and a memhv.Hypervisor as one server's
// hardware: the BMC's power off takes the hypervisor's VMs with it, power
// on brings it back empty.
//
// Servers and clients are safe for concurrent use.
package demosim
