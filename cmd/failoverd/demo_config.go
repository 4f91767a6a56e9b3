package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// demoOperator is the certificate name `failoverd status` uses on the demo.
const demoOperator = "operator"

// writeConfig makes the demo's certificates and its rack config (sim
// BMCs, hypervisors and watchdogs behind the demo's socket, a file image
// store in the temporary directory, loopback only) and returns its path.
func (d *demo) writeConfig() (string, error) {
	certs, err := makeCerts(filepath.Join(d.dir, "tls"), d.hw.names, demoOperator, nil, time.Now())
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	watchdogLine := fmt.Sprintf("{kind: sim, timeout: %v, interval: 500ms, stall_after: 2500ms}", demoWatchdog)
	leases := ""
	if d.leases() {
		watchdogLine = fmt.Sprintf("{kind: sim, timeout: %v, interval: %v, stall_after: %v}", demoLeaseWatchdog, demoLeaseInterval, demoLeaseStall)
		if leases, err = d.startLeases(certs); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# written by failoverd demo\ntopology: ring\nservers:\n")
	for _, s := range d.hw.names {
		fmt.Fprintf(&b, "  - name: %s\n", s)
		fmt.Fprintf(&b, "    bmc: {kind: sim}\n    hypervisor: {kind: sim}\n")
		fmt.Fprintf(&b, "    watchdog: %s\n", watchdogLine)
		fmt.Fprintf(&b, "    tls: {cert: %q, key: %q}\n", certs.Cert(s), certs.Key(s))
	}
	fmt.Fprintf(&b, `rack_manager:
  listen: %q
  url: "https://%s"
  tls: {cert: %q, key: %q}
  operators: [%s]
  interval: %v
  fast_interval: 100ms
  handover_after: 3s
  power_timeout: 10s
%simage_store: {kind: file, dir: %q}
tls: {ca: %q}
operator: {cert: %q, key: %q}
monitor: {action_timeout: 15s, tick_interval: 250ms}
policy:
  debounce_polls: 4
  max_status_gap: 600ms
  fast_dwell: 300ms
  fence_settle: 200ms
  evacuation_timeout: 10s
  retry_interval: 1s
  recovery_timeout: 30s
log: {format: json, level: info, events: true}
demo: {socket: %q}
`, addr, addr, certs.Cert(rackManagerName), certs.Key(rackManagerName), demoOperator, demoPoll, d.view.yaml(),
		filepath.Join(d.dir, "images"), certs.CA(), certs.Cert(demoOperator), certs.Key(demoOperator), d.hw.socket)
	b.WriteString(leases)
	path := filepath.Join(d.dir, "rack.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	if _, err := LoadConfig(path); err != nil {
		return "", fmt.Errorf("demo: its own config: %w", err)
	}
	if err := d.writeServerConfig(b.String()); err != nil {
		return "", err
	}
	return path, nil
}

// rmAddr is the rack manager's listen address from the config.
func (d *demo) rmAddr() string {
	cfg, err := LoadConfig(d.cfgPath)
	if err != nil {
		return ""
	}
	return cfg.RackManager.Listen
}
