// Package ipmibmc is the IPMI adapter of the failover library: one value
// of *BMC serves a server's sensors (sensor.Source), its BMC watchdog
// (watchdog.Watchdog and watchdog.Disarmer), its blade health
// (bmc.HealthReader) and its power (bmc.Power) over a single IPMI session,
// built on github.com/bougou/go-ipmi.
//
// # Concurrency
//
// Every method of *BMC is safe to call from several goroutines: exchanges
// on the session are serialised, and a session that stops answering is
// dropped and opened again on the next call (idempotent reads retry once
// on a fresh session at once), so the adapter recovers by itself after
// the BMC restarts. Power operations run one at a time.
//
// # Security
//
// Over the network only IPMI 2.0 (lanplus) is used unless IPMI 1.5 is
// asked for explicitly (Config.AllowIPMI15), the cipher suite is always
// set (17 by default, 3 allowed, 0 and other suites without encryption
// refused with bmc.ErrInsecure), empty passwords are refused, and the
// password never appears in logs, errors or %v output. Every RMCP+ answer's
// integrity code is verified before go-ipmi decrypts it (guard.go): go-ipmi
// v0.9.1 would otherwise crash the process on a forged or stale datagram.
//
// # Sensors
//
// Sensor data records are read once and cached; each poll then costs one
// Get SDR Repository Info and one Get Sensor Reading per sensor, and the
// records are read again when the repository changes (a sensor added or
// removed) or a new session was needed. Thresholds come from Get Sensor
// Thresholds (the SDR's own copy when the BMC does not answer it), read
// with the records and again every Config.ThresholdRefresh (1 min). Only analog sensors owned by the BMC itself (slave
// address 0x20, LUN 0) are polled. A sensor that gives no reading is
// returned unavailable, never as zero.
//
// # Watchdog
//
// Arm sets the SMS/OS timer and starts it; Kick is Reset Watchdog Timer;
// State decodes Get Watchdog Timer tolerantly (6 or 8 data bytes) and
// reads expiry from the expiration flags. BMCs that omit the present
// countdown (ipmi_sim) get Running and Remaining estimated from this
// adapter's own last Arm or Kick.
//
// # In-band kicking
//
// A server keeps its own BMC watchdog alive through the local system
// interface, without a password, with DefaultInbandConfig and
// watchdog.Updater:
//
//	b, err := ipmibmc.New(ipmibmc.DefaultInbandConfig()) // /dev/ipmi0
//	...
//	up, err := watchdog.NewUpdater(b, watchdog.DefaultUpdaterConfig())
//	...
//	err = up.Run(ctx) // arm, kick every Interval, disarm when ctx ends
//
// It needs the Linux modules ipmi_devintf and ipmi_si (or ipmi_ssif) and
// root, and must not run next to another user of the same watchdog (the
// ipmi_watchdog module, watchdogd). examples/ipmi-watchdog-kick is that
// program. The watching peer reads the same timer over the network.
//
// # Decoding
//
// Answers are decoded by this package's own tolerant decoders, which turn
// short or malformed answers into errors wrapping bmc.ErrMalformed, never
// panics; they are fuzzed (go test -fuzz). A non-zero completion code is a
// *CompletionError; no answer is bmc.ErrUnreachable; a power request
// whose outcome is unknown is bmc.ErrIndeterminate.
package ipmibmc
