package ipmibmc

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// TestMatchesFreeipmi: the adapter agrees with freeipmi's ipmi-sensors
// (an independent implementation; it prints 2 decimals) on every value
// and threshold.
func TestMatchesFreeipmi(t *testing.T) {
	if _, err := exec.LookPath("ipmi-sensors"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: ipmi-sensors missing: %v", err)
		}
		t.Skipf("ipmi-sensors missing (Debian package freeipmi-tools): %v", err)
	}
	s := startSim(t, ipmisim.Config{})
	b := open(t, s)
	for n, raw := range map[uint8]uint8{2: 120, 11: 66, 17: 80, 21: 101} {
		if err := s.SetRaw(n, raw); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := b.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// The password is a throwaway of the loopback simulator.
	out, err := exec.Command("ipmi-sensors", "-h", "127.0.0.1:"+strconv.Itoa(s.Port), "-u", s.User(), "-p", s.Password(),
		"--driver-type=LAN_2_0", "--cipher-suite-id=3", "-W", "opensesspriv", "--sdr-cache-directory="+t.TempDir(),
		"--quiet-cache", "--comma-separated-output", "--no-header-output", "--output-sensor-thresholds").CombinedOutput()
	if err != nil {
		t.Fatalf("ipmi-sensors: %v\n%s", err, out)
	}
	var want []row
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 12 {
			t.Fatalf("ipmi-sensors line with %d fields: %q", len(f), line)
		}
		v, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			t.Fatalf("value %q of %q: %v", f[3], f[1], err)
		}
		r := row{Name: f[1], Value: v}
		for i := range 6 { // LNR, LCR, LNC, UNC, UCR, UNR
			if f[5+i] == "N/A" {
				continue
			}
			x, err := strconv.ParseFloat(f[5+i], 64)
			if err != nil {
				t.Fatalf("threshold %q of %q: %v", f[5+i], f[1], err)
			}
			r.Thresholds[i] = &x
		}
		want = append(want, r)
	}
	if d := cmp.Diff(want, toRows(rs), cmpopts.EquateApprox(0, 0.0051)); d != "" {
		t.Errorf("adapter vs ipmi-sensors (-ipmi-sensors +adapter):\n%s", d)
	}
}
