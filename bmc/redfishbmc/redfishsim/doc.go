// Package redfishsim is a Redfish test server: it serves any DMTF-format
// mockup folder (each URI a folder holding index.json, the folder itself
// standing for /redfish/v1/) over TLS with net/http/httptest.
//
// It is stateful: GET, PATCH (merging objects), POST to collections and
// DELETE of members change an in-memory copy of the mockup, never the
// files. ComputerSystem.Reset at its advertised target changes PowerState
// and Status. The SessionService hands out X-Auth-Token tokens; the
// EventService gains a Server-Sent Events stream (ServerSentEventUri) into
// which tests inject events with Publish (kept for replay after a
// reconnect with Last-Event-ID; a lagging stream is sent Base
// EventBufferExceeded; a $filter on OriginResource is honoured when the
// service root says FilterQuery). Options.MaxSessions refuses logins
// past a limit, as real BMCs do. Faults (latency, 5xx, malformed
// JSON, dropped connections, oversized bodies, expired sessions) are
// injected with Inject and ExpireSessions.
//
// All methods of Server are safe for concurrent use.
package redfishsim
