package ipmisim

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// chassisScript is ipmi_sim's chassis_control program for
// Config.ChassisScript, called by ipmi_sim as "chassis.sh get power" for
// Get Chassis Status and "chassis.sh set power 0|1" for Chassis Control
// (a cycle is a set to 0, then to 1 a second later). Power is the power
// child: set ends or starts it and returns once it has, get reads whether
// it runs, except that get answers off while the stale-off flag exists.
// Every power command removes the flag.
func (s *Sim) chassisScript() string {
	steps := int(s.cfg.KillWait / (20 * time.Millisecond))
	return fmt.Sprintf(`#!/bin/sh
dir=%q
killsteps=%d
running() {
	pid=$(cat "$dir/child.pid" 2>/dev/null) || return 1
	state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ]
}
op=$1
shift
case $op in
get)
	for parm; do
		case $parm in
		power)
			if [ -e "$dir/stale-off" ] || ! running; then echo power:0; else echo power:1; fi ;;
		*)
			echo "chassis.sh: cannot get $parm"; exit 1 ;;
		esac
	done ;;
set)
	while [ $# -ge 2 ]; do
		parm=$1 val=$2
		shift 2
		case $parm:$val in
		power:0)
			rm -f "$dir/stale-off"
			if running; then
				kill -TERM "$pid" 2>/dev/null
				n=0
				while running && [ $n -lt $killsteps ]; do sleep 0.02; n=$((n+1)); done
				if running; then kill -KILL "$pid" 2>/dev/null; fi
			fi ;;
		power:1)
			rm -f "$dir/stale-off"
			if ! running; then
				rm -f "$dir/child.pid"
				"$dir/child.sh" "$(cat "$dir/sim.pid")" </dev/null >/dev/null 2>&1 &
				n=0
				while ! running && [ $n -lt 250 ]; do sleep 0.02; n=$((n+1)); done
				if ! running; then echo "chassis.sh: the power child did not start"; exit 1; fi
			fi ;;
		*)
			echo "chassis.sh: cannot set $parm to $val"; exit 1 ;;
		esac
	done ;;
*)
	echo "chassis.sh: unknown operation $op"; exit 1 ;;
esac
`, s.cfg.Dir, steps)
}

// ErrNoChassisScript: the Sim was started without Config.ChassisScript.
var ErrNoChassisScript = errors.New("ipmisim: needs Config.ChassisScript")

// ReportStaleOff makes the BMC answer Get Chassis Status with power off
// while the power child (the host) keeps running, until the BMC's next
// Chassis Control command: the stale or wrong state some BMCs report. It
// needs Config.ChassisScript.
func (s *Sim) ReportStaleOff() error {
	if !s.cfg.ChassisScript {
		return ErrNoChassisScript
	}
	if err := os.WriteFile(s.path("stale-off"), nil, 0o600); err != nil {
		return fmt.Errorf("ipmisim: report stale off: %w", err)
	}
	return nil
}
