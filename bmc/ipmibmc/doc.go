// Package ipmibmc is the IPMI adapter of the failover library: one value
// of *BMC serves a server's sensors (sensor.Source), its BMC watchdog
// (watchdog.Watchdog and watchdog.Disarmer), its blade health
// (bmc.HealthReader) and its power (bmc.Power) over a single IPMI session,
// built on github.com/bougou/go-ipmi.
//
// Every method of *BMC is safe to call from several goroutines: exchanges
// on the session are serialised, and a session that stops answering is
// dropped and opened again on the next call, so the adapter recovers by
// itself after the BMC restarts.
//
// Over the network only IPMI 2.0 (lanplus) is used unless IPMI 1.5 is
// asked for explicitly, the cipher suite is always set (17 by default, 3
// allowed, 0 refused), empty passwords are refused, and the password never
// appears in logs, errors or %v output. In-band access (/dev/ipmi0, the
// server kicking its own watchdog) uses InterfaceOpen.
//
// Sensor data records are read once and cached; each poll then costs one
// Get SDR Repository Info and one Get Sensor Reading per sensor, and the
// cache is read again when the repository changes. The answers are decoded
// by this package's own tolerant decoders (see the decode* functions),
// which turn short or malformed answers into errors wrapping
// bmc.ErrMalformed, never panics.
package ipmibmc
