// Package redfishbmc is the Redfish BMC adapter: one *BMC serves
// sensor.Source, bmc.HealthReader and bmc.Power for ONE ComputerSystem (a
// blade or a tower server), over one gofish client and one session.
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
// read back. Redfish has no standard watchdog: the adapter does not
// implement watchdog.Watchdog; pair it with another watchdog (or none).
//
// # Events
//
// Events is an optional capability (see EventSource): it follows the
// EventService's Server-Sent Events stream when the service offers one,
// reconnects with exponential backoff, polls the system's state while the
// stream is down or absent, and delivers a bmc.Event for every event about
// this system, its chassis or its enclosure. A consumer reacts to an event
// by reading Health at once instead of waiting for its next poll.
//
// # Security
//
// TLS certificates are verified by default, against the system roots, a
// CA file (Config.CAFile) or one pinned certificate
// (Config.PinnedCertSHA256). Credentials go to the SessionService once; the
// X-Auth-Token is then sent, and the session is deleted on Close. Basic
// auth is used only with Config.BasicAuth. Redirects to another host or
// scheme are refused, so credentials never leave the BMC. Config and BMC
// redact secrets in String, GoString and LogValue; errors never hold them.
// Every response body is read up to Config.MaxBodyBytes.
//
// # Concurrency
//
// All methods of *BMC are safe for concurrent use. Close may be called
// once the adapter is no longer needed; later calls fail with
// bmc.ErrUnreachable.
package redfishbmc
