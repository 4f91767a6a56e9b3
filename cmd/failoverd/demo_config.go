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
	certs, err := d.demoCerts(d.hw.names)
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
	leases, images := "", fmt.Sprintf("{kind: file, dir: %q}", filepath.Join(d.dir, "images"))
	if d.leases() {
		watchdogLine = fmt.Sprintf("{kind: sim, timeout: %v, interval: %v, stall_after: %v}", demoLeaseWatchdog, demoLeaseInterval, demoLeaseStall)
		leases, images = leaseYAML(d.etcd.endpoint), "{kind: etcd}"
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
%simage_store: %s
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
		images, certs.CA(), certs.Cert(demoOperator), certs.Key(demoOperator), d.hw.socket)
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

// demoCerts makes the demo's CA and certificates once.
func (d *demo) demoCerts(names []string) (certSet, error) {
	if d.certs != nil {
		return *d.certs, nil
	}
	certs, err := makeCerts(filepath.Join(d.dir, "tls"), names, demoOperator, nil, time.Now())
	if err != nil {
		return certSet{}, err
	}
	d.certs = &certs
	return certs, nil
}

// rmAddr is the rack manager's listen address from the config.
func (d *demo) rmAddr() string {
	cfg, err := LoadConfig(d.cfgPath)
	if err != nil {
		return ""
	}
	return cfg.RackManager.Listen
}
