// Package telemetry is the recorded-telemetry format: one JSON object
// per line per poll of one server's BMC (Record), as bmcstat -watch
// writes it, the rack manager's journal files hold it and failoverd
// replay reads it. docs/telemetry.md describes the format.
//
// Record converts from and to rack.Status (FromStatus, Record.Status).
// Encode writes one line; a Decoder reads lines and names file:line in
// each error. A Writer appends lines to a file rotated by size.
//
// Functions are safe for concurrent use; a Decoder is not; a Writer is.
package telemetry
