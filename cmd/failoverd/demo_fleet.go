package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rackha/failover/bmc"
)

// The demo's processes: one rack manager, one monitor per powered server.

// followPower plays each server's power on its monitor process: off kills
// it (the server is gone) and ends a sag or overheat; on starts a new one
// (the server booted).
func (d *demo) followPower(ctx context.Context) {
	for {
		var pc powerChange
		select {
		case <-ctx.Done():
			return
		case pc = <-d.hw.power:
		}
		switch pc.state {
		case bmc.PowerOff:
			d.mu.Lock()
			d.powerOff[pc.server] = pc.at
			m := d.monitors[pc.server]
			delete(d.monitors, pc.server)
			delete(d.hung, pc.server)
			d.mu.Unlock()
			if m != nil {
				m.kill()
			}
			if err := d.hw.resetSensors(pc.server); err != nil {
				d.log.note("demo", "reset sensors: "+err.Error(), nil)
			}
		case bmc.PowerOn:
			if err := d.startMonitor(pc.server); err != nil {
				d.log.note("demo", "start monitor: "+err.Error(), nil)
			}
		}
	}
}

func (d *demo) startRackManager() error {
	c, err := startChild(d.exe, d.dir, d.cfgPath, "rack-manager", "", nil, d.log.line)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.rm = c
	d.rmPIDs = append(d.rmPIDs, c.pid())
	d.mu.Unlock()
	// Ready when it accepts connections.
	addr := d.rmAddr()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.exited() {
			return fmt.Errorf("demo: the rack manager exited at once; see %s", filepath.Join(d.dir, "rack-manager.log"))
		}
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return nil
		}
	}
	return fmt.Errorf("demo: the rack manager does not listen on %s", addr)
}

// poweredOff is when server's power last went off (zero: never).
func (d *demo) poweredOff(server string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.powerOff[server]
}

func (d *demo) startMonitor(server string) error {
	cfg := d.cfgPath
	if own := d.monitorCfg[server]; own != "" {
		cfg = own
	}
	c, err := startChild(d.exe, d.dir, cfg, "monitor", server, nil, d.log.line)
	if err != nil {
		return err
	}
	d.mu.Lock()
	old := d.monitors[server]
	d.monitors[server] = c
	d.mu.Unlock()
	if old != nil {
		old.kill()
	}
	return nil
}

func (d *demo) waitMonitors(ctx context.Context, names []string) error {
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return d.log.wait(wctx, "the monitors did not start", func(_ []demoEvent, started map[string]int) bool {
		for _, s := range names {
			if !d.monitorFresh(s, started) {
				return false
			}
		}
		return true
	})
}

func (d *demo) stopAll() {
	d.mu.Lock()
	var all []*child
	for _, m := range d.monitors {
		all = append(all, m)
	}
	if d.rm != nil {
		all = append(all, d.rm)
	}
	d.monitors = map[string]*child{}
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.signal(syscall.SIGCONT)
			c.stop(5 * time.Second)
		}()
	}
	wg.Wait()
}

// monitorFresh: server's running monitor is the one that said it started.
func (d *demo) monitorFresh(server string, started map[string]int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.monitors[server]
	return m != nil && started[server] == m.pid()
}
