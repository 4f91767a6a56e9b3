package main

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
)

// policy is failover.DefaultPolicy() with the file's overrides, validated
// by the library.
func (c *Config) policy() (failover.Policy, error) {
	p := failover.DefaultPolicy()
	o := c.Policy
	v := &checker{file: c.File}
	if c.pos != nil {
		v.root = c.pos.root
	}
	setInt := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	setFloat := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	setInt(&p.DebouncePolls, o.DebouncePolls)
	setInt(&p.UnreachableAlertPolls, o.UnreachableAlertPolls)
	setInt(&p.FenceAttempts, o.FenceAttempts)
	setInt(&p.MaxParallelStarts, o.MaxParallelStarts)
	setInt(&p.StartAttempts, o.StartAttempts)
	setFloat(&p.Hysteresis, o.Hysteresis)
	setFloat(&p.ZeroVolts, o.ZeroVolts)
	setFloat(&p.StormFraction, o.StormFraction)
	if o.Evacuate != nil {
		p.Evacuate = *o.Evacuate
	}
	v.duration("policy.debounce_dwell", o.DebounceDwell, &p.DebounceDwell)
	v.duration("policy.max_status_gap", o.MaxStatusGap, &p.MaxStatusGap)
	v.duration("policy.status_timeout", o.StatusTimeout, &p.StatusTimeout)
	v.duration("policy.fast_dwell", o.FastDwell, &p.FastDwell)
	v.duration("policy.evacuation_timeout", o.EvacuationTimeout, &p.EvacuationTimeout)
	v.duration("policy.fence_settle", o.FenceSettle, &p.FenceSettle)
	v.duration("policy.retry_interval", o.RetryInterval, &p.RetryInterval)
	v.duration("policy.recovery_timeout", o.RecoveryTimeout, &p.RecoveryTimeout)
	c.predictPolicy(v, &p)
	if v.err != nil {
		return p, v.err
	}
	switch o.DangerLevel {
	case "":
	case "caution":
		p.DangerLevel = sensor.LevelCaution
	case "critical":
		p.DangerLevel = sensor.LevelCritical
	case "fatal":
		p.DangerLevel = sensor.LevelFatal
	default:
		return p, fmt.Errorf("Policy.DangerLevel %q: want caution, critical or fatal", o.DangerLevel)
	}
	return p, p.Validate()
}

// predictPolicy applies the predict_* overrides.
func (c *Config) predictPolicy(v *checker, p *failover.Policy) {
	o := c.Policy
	if o.Predict != nil {
		p.Predict = *o.Predict
	}
	if o.PredictWindow != nil {
		p.PredictWindow = *o.PredictWindow
	}
	if o.PredictMinRate != nil {
		p.PredictMinRate = *o.PredictMinRate
	}
	if o.PredictECCLimit != nil {
		p.PredictECCLimit = *o.PredictECCLimit
	}
	v.duration("policy.predict_lead", o.PredictLead, &p.PredictLead)
	v.duration("policy.predict_dwell", o.PredictDwell, &p.PredictDwell)
	v.duration("policy.predict_reversal", o.PredictReversal, &p.PredictReversal)
	v.duration("policy.predict_ecc_window", o.PredictECCWindow, &p.PredictECCWindow)
	if len(o.PredictSensors) > 0 {
		p.PredictSensors = map[string]failover.PredictRule{}
	}
	for name, r := range o.PredictSensors {
		rule := failover.PredictRule{Off: r.Off, MinRate: r.MinRate}
		v.duration("policy.predict_sensors."+name+".lead", r.Lead, &rule.Lead)
		p.PredictSensors[name] = rule
	}
}

var policyFieldRE = regexp.MustCompile(`Policy\.([A-Za-z]+)`)

// policyField is the YAML key of the Policy field an error names.
func policyField(msg string) string {
	m := policyFieldRE.FindStringSubmatch(msg)
	if m == nil {
		return "policy"
	}
	return "policy." + snake(m[1])
}

// snake turns DebouncePolls into debounce_polls.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// localConfig is rack.DefaultLocalConfig() with the rack manager's
// overrides (no servers: the role adds them).
func (c *Config) localConfig() (rack.LocalConfig, error) {
	l := rack.DefaultLocalConfig()
	rm := c.RackManager
	v := &checker{file: c.File, root: c.pos.root}
	v.duration("rack_manager.interval", rm.Interval, &l.Interval)
	v.duration("rack_manager.call_timeout", rm.CallTimeout, &l.CallTimeout)
	v.duration("rack_manager.power_timeout", rm.PowerTimeout, &l.PowerTimeout)
	v.duration("rack_manager.handover_after", rm.HandoverAfter, &l.HandoverAfter)
	v.duration("rack_manager.storm_window", rm.StormWindow, &l.StormWindow)
	if rm.FastInterval == "off" {
		l.FastInterval = -1
	} else {
		v.duration("rack_manager.fast_interval", rm.FastInterval, &l.FastInterval)
	}
	if v.err != nil {
		return l, v.err
	}
	if rm.JournalSize != 0 {
		l.JournalSize = rm.JournalSize
	}
	topo, err := c.topology()
	if err != nil {
		return l, err
	}
	l.Topology = topo
	// Validate wants servers: check the rest with placeholders.
	probe := l
	for _, n := range c.serverNames() {
		probe.Servers = append(probe.Servers, rack.Server{Name: n})
	}
	if err := probe.Validate(); err != nil {
		m := regexp.MustCompile(`LocalConfig\.([A-Za-z]+)`).FindStringSubmatch(err.Error())
		field := "rack_manager"
		if m != nil {
			field += "." + snake(m[1])
		}
		return l, c.errAt(field, "refused", err)
	}
	return l, nil
}

// monitorTimes are the monitor's ActionTimeout and TickInterval (zero:
// the library's default).
func (c *Config) monitorTimes() (action, tick time.Duration) {
	v := &checker{file: c.File, root: c.pos.root}
	v.duration("monitor.action_timeout", c.Monitor.ActionTimeout, &action)
	v.duration("monitor.tick_interval", c.Monitor.TickInterval, &tick)
	return action, tick
}

// logLevel is log.level as a slog level.
func (c *Config) logLevel() (slog.Level, error) {
	switch c.Log.Level {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: want debug, info, warn or error", c.Log.Level)
}
