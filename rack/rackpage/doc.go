// Package rackpage is the rack manager's live page for operators: an
// http.Handler to mount (failoverd serves it on the rack manager's
// page_listen) showing every server's phase, power, BMC reachability,
// watchdog and watcher, each reading against its thresholds with a
// sparkline of its journal, the VMs and the server that owns each (from
// the image store), and the last monitor events. The page updates over
// Server-Sent Events (GET stream, read by the browser's EventSource).
//
// What it knows: power, reachability, watchdog, readings and watchers
// come from rack.Local's journals; phases and events only from the
// monitor events given to Page.Record (in-process monitors, as in
// `failoverd all`); without them Phase is empty and the page says
// "phase not reported". VM owners come from the image store given in
// Config.Images.
//
// Access is read-only: only GET and HEAD; there is no power action. A
// request is let in with a verified client certificate whose name is a
// server of the topology or one of Config.Operators, or with the
// operator token (Config.Token), given as "Authorization: Bearer TOKEN",
// or once as ?token=TOKEN, which sets an HttpOnly, Secure, SameSite=Strict
// cookie and redirects to the same URL without it (the browser's
// EventSource cannot send headers). A verified certificate naming anyone
// else is refused, token or not. Tokens are compared in constant time
// and never logged. Every asset ships inside the binary (embed); the page
// loads nothing from elsewhere.
//
// A Page is safe for concurrent use.
package rackpage
