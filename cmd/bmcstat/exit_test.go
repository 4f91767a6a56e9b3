package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// The tests in this file build bmcstat and run it as a user would, and
// check its exit status.

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds bmcstat once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "bmcstat-test")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "bmcstat")
		out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// bmcstat runs the binary with args and the password in BMC_PASSWORD,
// and returns its exit code, stdout and stderr. HOME and XDG_CACHE_HOME
// point into the test's directory, so the default SDR cache does too.
func bmcstat(t *testing.T, password string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "BMC_PASSWORD="+password, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("bmcstat %q: %v", args, err)
	return -1, "", ""
}

func startSimConfig(t *testing.T, cfg ipmisim.Config) *ipmisim.Sim {
	t.Helper()
	if err := ipmisim.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
	cfg.Dir = t.TempDir()
	s, err := ipmisim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func ipmiArgs(s *ipmisim.Sim, extra ...string) []string {
	return append([]string{"-ipmi", s.Addr(), "-user", s.User(), "-cipher", "3"}, extra...)
}

// decodeJSON parses bmcstat -json output.
func decodeJSON(t *testing.T, out string) []status {
	t.Helper()
	var got []status
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return got
}

// A healthy, powered ipmi_sim: exit 0, twice. The second run takes the
// records from the SDR cache the first wrote: a read from the BMC would
// have replaced the file (a new inode, by rename).
func TestExitHealthyIPMI(t *testing.T) {
	s := startSimConfig(t, ipmisim.Config{PoweredOn: true, Sensors: ipmisim.DefaultSensors()[:7]})
	cache := t.TempDir()
	var inodes []uint64
	for run := 1; run <= 2; run++ {
		code, out, errs := bmcstat(t, s.Password(), ipmiArgs(s, "-sdr-cache", cache, "-json")...)
		if code != 0 {
			t.Fatalf("run %d: exit %d, want 0\nstdout: %s\nstderr: %s", run, code, out, errs)
		}
		got := decodeJSON(t, out)
		if len(got) != 1 || !got[0].OK || len(got[0].Readings) != 7 || got[0].NotOffered != nil {
			t.Errorf("run %d: %+v", run, got)
		}
		m, _ := filepath.Glob(filepath.Join(cache, "*.sdr"))
		if len(m) != 1 {
			t.Fatalf("run %d: SDR cache files %v, want one", run, m)
		}
		st, err := os.Stat(m[0])
		if err != nil {
			t.Fatal(err)
		}
		inodes = append(inodes, st.Sys().(*syscall.Stat_t).Ino)
	}
	if inodes[0] != inodes[1] {
		t.Error("the second run rewrote the SDR cache: it read the records from the BMC")
	}
}

// A healthy Redfish system without a host watchdog: exit 0, the watchdog
// shown as not offered.
func TestExitHealthyRedfishNoWatchdog(t *testing.T) {
	s := startRedfish(t, "public-tower")
	sum := sha256.Sum256(s.CertDER())
	code, out, errs := bmcstat(t, "rf-secret", "-redfish", s.URL, "-user", "admin", "-pin", hex.EncodeToString(sum[:]))
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errs)
	}
	for _, want := range []string{"watchdog: " + notOffered, "result:   ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A server that is off (ipmi_sim without its power child) reports failed
// health: exit 1.
func TestExitIPMIPowerOff(t *testing.T) {
	s := startSimConfig(t, ipmisim.Config{PoweredOn: false, Sensors: ipmisim.DefaultSensors()[:2]})
	code, out, errs := bmcstat(t, s.Password(), ipmiArgs(s, "-no-sdr-cache", "-json")...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errs)
	}
	got := decodeJSON(t, out)
	if len(got) != 1 || got[0].OK || !slices.Contains(got[0].Failures, "health failed: power off") || len(got[0].Readings) != 2 {
		t.Errorf("%+v", got)
	}
}

// A Redfish system whose Status.Health is Critical: exit 1, and a
// healthy one next to it in the same enclosure stays ok.
func TestExitRedfishCritical(t *testing.T) {
	s := startRedfish(t, "public-bladed")
	if err := s.Set("/redfish/v1/Systems/529QB9451R6", map[string]any{"Status": map[string]any{"Health": "Critical"}}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(s.CertDER())
	code, out, errs := bmcstat(t, "rf-secret", "-redfish", s.URL, "-user", "admin", "-pin", hex.EncodeToString(sum[:]), "-json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errs)
	}
	var failed []string
	for _, st := range decodeJSON(t, out) {
		if !st.OK {
			failed = append(failed, strings.TrimPrefix(st.Target, "redfish "+s.URL+" system ")+": "+strings.Join(st.Failures, "; "))
		}
	}
	if want := []string{"529QB9451R6: health failed: blade fault (Status.Health Critical)"}; !slices.Equal(failed, want) {
		t.Errorf("failed targets %q, want %q", failed, want)
	}
}

// freePort returns a loopback port nothing listens on (for network).
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// An unreachable BMC: exit 1, for both protocols.
func TestExitUnreachable(t *testing.T) {
	ipmi := "127.0.0.1:" + strconv.Itoa(freePort(t, "udp"))
	code, out, errs := bmcstat(t, "pw", "-ipmi", ipmi, "-user", "admin", "-cipher", "3", "-timeout", "5s")
	if code != 1 || !strings.Contains(out, "unreachable") || !strings.Contains(out, "result:   FAILED") {
		t.Errorf("IPMI: exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errs)
	}
	rf := "https://127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	code, out, errs = bmcstat(t, "pw", "-redfish", rf, "-user", "admin", "-insecure", "-timeout", "5s")
	if code != 1 {
		t.Errorf("Redfish: exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errs)
	}
}

// Usage errors: exit 2, with a message naming the mistake.
func TestExitUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no BMC given"},
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"-timeout", "soon", "-ipmi", "127.0.0.1"}, `invalid value "soon" for flag -timeout`},
		{[]string{"-ipmi", "127.0.0.1", "-user", "u", "extra"}, `unexpected argument "extra"`},
		{[]string{"-ipmi", "127.0.0.1:port", "-user", "u"}, `port "port" is not a number`},
		{[]string{"-ipmi", "127.0.0.1", "-user", "u", "-cipher", "0"}, "CipherSuite 0"},
		{[]string{"-ipmi", "127.0.0.1,", "-user", "u"}, "empty address"},
		{[]string{"-redfish", "http://127.0.0.1", "-user", "u"}, "plain http"},
		{[]string{"-redfish", "https://127.0.0.1", "-user", "u", "-pin", "abc"}, "not 64 hex digits"},
	} {
		code, out, errs := bmcstat(t, "pw", tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q (stdout %q)", tc.args, code, errs, tc.want, out)
		}
	}
}

// -h documents the exit codes and exits 0.
func TestHelpDocumentsExitCodes(t *testing.T) {
	code, out, errs := bmcstat(t, "", "-h")
	all := out + errs
	if code != 0 {
		t.Errorf("-h: exit %d", code)
	}
	for _, want := range []string{"Exit status:", "  0  every role", "  1  a read failed", "  2  usage error", "not offered", "-sdr-cache", "-no-sdr-cache"} {
		if !strings.Contains(all, want) {
			t.Errorf("-h lacks %q:\n%s", want, all)
		}
	}
}
