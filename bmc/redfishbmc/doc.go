// Package redfishbmc is the Redfish BMC adapter: one *BMC serves
// sensor.Source, watchdog.Watchdog (read-only), bmc.HealthReader and
// bmc.Power for ONE ComputerSystem (a blade or a tower server), over one
// gofish client and one session.
//
// # Readings
//
// Readings come from the chassis the system links to (Links.Chassis): the
// Sensors collection when the chassis has one (newer services), otherwise
// the legacy Thermal (temperatures, fans) and Power (voltages, power
// supplies, power control) resources. In a multi-blade enclosure the blade
// chassis names its enclosure in Links.ContainedBy; the enclosure's
// readings are added to the blade's when they concern it: an entry whose
// RelatedItem names the blade's chassis or system, or one with no
// RelatedItem at all (enclosure-wide, such as intake air or supply
// voltage). Enclosure readings are named "<enclosure Id>: <name>". Entries
// whose Status.State is Absent, Disabled or UnavailableOffline, or which
// carry no reading, are returned with sensor.StatusUnavailable, never as
// zero. Thresholds come from Thresholds (LowerCaution, LowerCritical,
// LowerFatal, UpperCaution, UpperCritical, UpperFatal) and from the legacy
// ...ThresholdNonCritical/Critical/Fatal fields.
//
// # Health and power
//
// Health reads the ComputerSystem's Status and PowerState: Health
// "Critical" or State "UnavailableOffline"/"Absent" set Fault. SetPower
// posts ComputerSystem.Reset to the advertised target with a reset type
// the system allows (ForceOff; On or ForceOn; PowerCycle or ForceRestart,
// or On when the system is off) and returns only after PowerState has been
// read back.
//
// # Watchdog
//
// The adapter offers watchdog.Watchdog read-only, from the system's
// HostWatchdogTimer: State gives Running (FunctionEnabled and
// Status.State Enabled) and Action (TimeoutAction: ResetSystem,
// PowerCycle, PowerDown; OEM or None read as ActionNone); Redfish gives
// no timeout. Arm and Kick fail with bmc.ErrUnsupported: the host arms
// and kicks its watchdog in-band. A system without HostWatchdogTimer
// (the DMTF public mockups, many services) does not offer the role:
// State fails with bmc.ErrNotOffered, which is no failed read. A
// watchdog expiry the service reports is the watchdog detection mode:
// an event whose MessageId key names a watchdog expiry or timeout
// (HostWatchdogTimerExpired, WatchdogTimerExpired, WatchdogTimeout; see
// isWatchdogExpiry) about this system, or a new such entry in the
// system's LogServices, sets State's Expired until the watchdog is seen
// re-armed (not running at one read after the expiry, running at a
// later one) or the entry leaves the log; it also reaches Health.Events
// as a critical event. Entries already in the log at the adapter's
// first read are history.
//
// # Correctable memory errors
//
// A new entry in the system's LogServices that records a correctable
// memory (ECC) error reaches Health.Events as one warning of Kind
// bmc.EventCorrectableECC, which the failover engine counts
// (Policy.PredictECCLimit). The forms recognised (see isCorrectableECC):
// an IPMI SEL entry of SensorType Memory whose MessageId carries the
// record's event bytes ("0xNNaabbcc", DMTF LogEntry) with the
// sensor-specific offset 0 asserted, as bmc/ipmibmc maps it; and the
// registry messages MemoryECCCorrectable and ADDDCCorrectable (OpenBMC)
// and IDRAC MEM0701/MEM0702 (correctable error rate exceeded).
// Uncorrectable errors, other sensors and free text are never counted;
// an entry whose OriginOfCondition names another system or its parts is
// not this system's. Entries already in the log at the adapter's first
// read are history. The log is read at most every
// Config.WatchdogLogInterval, by State, by Events' polling and by Health,
// which starts the read in the background and never waits for it (a
// long log must not delay a health read): what it finds comes with the
// next Health call. One read reports at most 32 errors (maxECCPerRead;
// more are logged as a count and taken as seen). Events on the stream
// are delivered but not counted: a service logs what it sends, and the
// log counts each error once. MemoryMetrics (CorrectableECCErrorCount
// per DIMM) is not read: it would cost a request per DIMM per read and
// count the same errors a second time.
//
// # Events
//
// Events is an optional capability (see EventSource): it follows the
// EventService's Server-Sent Events stream when the service offers one,
// reconnects with exponential backoff, polls the system's state all along
// (a stream may be open but silent), and delivers a bmc.Event for every
// event about this system, its chassis or its enclosure. Only a valid
// event counts as life: a stream that trickles keep-alives or garbage is
// dropped after Config.StallTimeout, and the backoff starts over only
// after a valid event. A reconnect sends Last-Event-ID (the service may
// replay what a short drop missed) and waits the stream's retry field
// when that is longer than the backoff, never past
// Config.ReconnectMax. When events were lost (a Base EventBufferExceeded
// message, or a gap in the numeric ids of an unfiltered stream) an event
// saying so is delivered. Where the service supports $filter
// (ProtocolFeaturesSupported.FilterQuery) the stream is asked for this
// system's events only. A consumer reacts to an event by reading the
// status at once instead of waiting for its next poll (rack.Local reads
// the server in full), which is also how a loss is caught up.
//
// # Sessions
//
// One session serves every role of an adapter, and OpenSystem opens the
// adapter of another system of the same service on that same session
// (the blades of an enclosure): BMCs allow few sessions (often 8) and
// lock out when they leak. A refused session is deleted before the
// adapter logs in again, and the last Close deletes the session.
//
// SetPower(off) always sends ForceOff, even when the system already reads
// off: a stale PowerState must not both skip the fence and confirm it.
//
// # Security
//
// TLS certificates are verified by default, against the system roots, a
// CA file (Config.CAFile) or one pinned certificate
// (Config.PinnedCertSHA256). The adapter logs in itself: the credentials
// go once, on a connection of their own, to the service root's
// Links.Sessions; the X-Auth-Token is then sent, and the session (at its
// Location) is deleted on Close, also when Close meets a relogin in
// flight. Basic auth is used only with Config.BasicAuth. Every link the
// service supplies (Links.Sessions, the login's Location, each @odata.id
// followed, each action target, the SSE URI) must be a path or a URL of
// the endpoint's own scheme, host and port; and the transport refuses any
// request, or redirect, elsewhere: the password and the token never leave
// the BMC. The password and the token live in closures, never in a field
// reachable from a BMC value; Config and BMC redact them in every fmt
// verb (Format), slog (LogValue) and JSON (MarshalJSON); errors never hold
// them. Every response body is read up to Config.MaxBodyBytes, error
// bodies and answers that merely claim text/event-stream included; only
// the SSE request itself streams, bounded per line and per event.
//
// # Concurrency
//
// All methods of *BMC are safe for concurrent use. Close may be called
// once the adapter is no longer needed; later calls fail with
// bmc.ErrUnreachable.
package redfishbmc
