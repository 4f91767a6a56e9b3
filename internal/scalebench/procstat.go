package scalebench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat: 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime is a process's user + system CPU time so far, from
// /proc/PID/stat (pid 0: this process).
func cpuTime(pid int) (time.Duration, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("scalebench: CPU time: %w", err)
	}
	return parseStat(string(raw))
}

// parseStat reads utime and stime (fields 14 and 15) from a stat line.
// The command name (field 2) may hold spaces and parentheses, so fields
// are counted after its last ')'.
func parseStat(line string) (time.Duration, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return 0, fmt.Errorf("scalebench: /proc stat line without a command name: %q", truncate(line))
	}
	f := strings.Fields(line[end+1:])
	// f[0] is field 3 (state): utime is field 14, f[11]; stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("scalebench: /proc stat line has %d fields after the name, want at least 13: %q", len(f), truncate(line))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("scalebench: /proc stat: CPU ticks %q: not a count", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

func truncate(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
