// Package rackhttp puts the rack manager on the network: Handler serves a
// rack.Local over HTTPS with mutual TLS, and Client implements
// rack.Manager against it, so failover.Monitor runs unchanged on each
// server while the rack manager runs on its own controller.
//
// Wire (JSON, versioned under /v1; every error body is
// {"error": "...", "kind": "..."}):
//
//	GET  /v1/watch?watcher=NAME  text/event-stream of event "status", data one
//	                             rack.Status as JSON; comments as heartbeats
//	POST /v1/power               {"server":"s2","action":"off"|"on"|"cycle"}
//	GET  /v1/rack?n=N            read-only view: per server its latest status,
//	                             watcher and last N (<= 60) journal statuses
//	POST /v1/events              one failover.Event (JSON) its monitor decided,
//	                             for HandlerConfig.OnEvent (page, metrics); 204
//
// Why Server-Sent Events and not a gRPC stream: SSE is plain HTTPS, so it
// needs no code generation and no new dependency (net/http and
// encoding/json only); its streams pass HTTP proxies and load balancers;
// an operator can follow a stream with curl; and the operator page
// (rack/rackpage) streams to the browser's EventSource the same way.
// The streams carry a few small statuses a second, where gRPC's framing
// would buy nothing.
//
// Identity is the verified client certificate's name (its first DNS SAN,
// else its Common Name; see PeerName). Authorization comes from the
// topology: a server may watch only as itself and receives the statuses
// rack.Local delivers to it (its own watched servers and any handed over
// to it); it may power only a server it watches now (rack.Local.MayPower).
// A server may report only events it decided (their Peer, or their
// Server for a reconcile of its own). Operators (HandlerConfig.Operators)
// may only read GET /v1/rack. Every
// power request, refused ones too, is written to the audit logger.
//
// Streams: on connect a watcher gets at once the latest journaled status of
// each server it watches, then every status as rack.Local delivers it. A
// slow reader never blocks the rack manager: rack.Local's bounded
// per-watcher buffer drops older statuses, never the newest; a stream
// whose client stops reading for IdleTimeout is closed. The Client
// reconnects with exponential backoff and full jitter when the stream
// ends, errs, or carries no byte for StallAfter (heartbeats come every
// Heartbeat on an idle stream). It never invents a status: staleness is
// the engine's Policy.StatusTimeout.
//
// Power: a request the Client sent whose answer is lost (connection
// reset, timeout) wraps bmc.ErrIndeterminate, as does the rack manager's
// own indeterminate answer; a refused request is a plain error naming why
// (ErrForbidden, ErrRateLimited, ErrBadRequest, ...). The rack manager
// finishes a power operation it started even if the client goes away.
//
// Replicas: with HandlerConfig.Leadership (rack/rackelect's Elector),
// a Handler is one of several rack manager replicas. While it does not
// lead it answers every request, once the caller is identified, with 503
// {"kind": "not_leader", "leader": URL} and Retry-After: 1, and ends its
// open streams on their next write. It answers 503 and not a 307
// redirect for two reasons. Go's and browsers' HTTP clients follow a
// redirect by themselves and would resend a power request to whatever
// URL a replica names. And a stale follower could send them in circles.
// The Client given URLs instead goes to the named leader only if it is
// one of its own URLs, and otherwise tries the next. A not_leader answer
// means nothing was done: it wraps rack.ErrNotLeader and never
// bmc.ErrIndeterminate, so the Client may try another replica at once,
// as it does for a request it could not send. A power action whose
// replica lost the lead mid-call is indeterminate (the guard's second
// transaction failed).
//
// Connections are HTTP/1.1 (ServerTLS and ClientTLS offer only
// "http/1.1"), so each stream has its own TCP connection and a dropped or
// stalled connection ends exactly one stream.
//
// Certificates: each server's certificate names it as its first DNS SAN
// (else its Common Name) and carries the client-auth extended key usage;
// the rack manager's names the host name monitors dial (ClientTLS's
// serverName) and carries server-auth. One CA file verifies both ends.
//
// Changes to the contract between the daemon and this package: the
// additions NewServer (an http.Server with its timeouts set and HTTP/2
// off), RackView/ServerView (the /v1/rack answer), Client.RackJournal (a
// chosen journal length), Client.Close, Files.Name and the error
// sentinels; ClientConfig.PowerTimeout defaults to 70 s, not 60 s, so
// that the rack manager's own 60 s timeout answers first; power errors
// are 502 (never 409). Last-Event-ID is not honoured: a reconnect gets
// the latest statuses instead, which is what a watcher needs.
//
// Contract additions for replicas: HandlerConfig.Leadership, the
// Leadership interface, ClientConfig.URLs, the error kind not_leader
// (rack.ErrNotLeader) and the leader field of an error body.
//
// Concurrency: Handler, Client and Files are safe for concurrent use;
// Files.Reload may run while connections are being made.
package rackhttp
