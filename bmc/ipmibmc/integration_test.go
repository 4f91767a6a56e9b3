package ipmibmc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

// row is one sensor as ipmitool and the adapter show it.
type row struct {
	Name       string
	Value      float64
	Thresholds [6]*float64 // LNR, LCR, LNC, UNC, UCR, UNR; nil = "na"
}

// ipmitoolSensors runs `ipmitool ... sensor` against s (password through
// the environment, -E) and parses its table.
func ipmitoolSensors(t *testing.T, s *ipmisim.Sim) []row {
	t.Helper()
	if _, err := exec.LookPath("ipmitool"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: ipmitool missing: %v", err)
		}
		t.Skipf("ipmitool missing (Debian package ipmitool): %v", err)
	}
	cmd := exec.Command("ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", strconv.Itoa(s.Port),
		"-U", s.User(), "-E", "-C", "3", "sensor")
	cmd.Env = append(os.Environ(), "IPMI_PASSWORD="+s.Password())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ipmitool sensor: %v\n%s", err, out)
	}
	var rows []row
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 10 {
			t.Fatalf("ipmitool line with %d fields: %q", len(f), line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("ipmitool value %q of %q: %v", f[1], f[0], err)
		}
		r := row{Name: f[0], Value: v}
		// ipmitool columns: lnr, lcr, lnc, unc, ucr, unr.
		for i := range 6 {
			if f[4+i] == "na" {
				continue
			}
			x, err := strconv.ParseFloat(f[4+i], 64)
			if err != nil {
				t.Fatalf("ipmitool threshold %q of %q: %v", f[4+i], f[0], err)
			}
			r.Thresholds[i] = &x
		}
		rows = append(rows, r)
	}
	return rows
}

func toRows(rs []sensor.Reading) []row {
	lim := func(l sensor.Limit) *float64 {
		if !l.Set {
			return nil
		}
		v := l.Value
		return &v
	}
	var out []row
	for _, r := range rs {
		th := r.Thresholds
		out = append(out, row{Name: r.Name, Value: r.Value, Thresholds: [6]*float64{
			lim(th.LowerFatal), lim(th.LowerCritical), lim(th.LowerCaution),
			lim(th.UpperCaution), lim(th.UpperCritical), lim(th.UpperFatal)}})
	}
	return out
}

// TestMatchesIpmitool: every value and threshold the adapter reads equals
// what ipmitool reads from the same BMC (ipmitool prints 3 decimals).
func TestMatchesIpmitool(t *testing.T) {
	s := startSim(t, ipmisim.Config{})
	b := open(t, s)
	// Move a few values away from their defaults first.
	for n, raw := range map[uint8]uint8{1: 131, 12: 61, 16: 97, 22: 44} {
		if err := s.SetRaw(n, raw); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := b.Readings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) < 20 {
		t.Fatalf("%d readings, the fixture has 24", len(rs))
	}
	want := ipmitoolSensors(t, s)
	if d := cmp.Diff(want, toRows(rs), cmpopts.EquateApprox(0, 0.0005)); d != "" {
		t.Errorf("adapter vs ipmitool (-ipmitool +adapter):\n%s", d)
	}
}

func find(rs []sensor.Reading, name string) (sensor.Reading, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r, true
		}
	}
	return sensor.Reading{}, false
}

// TestRuntimeChanges: a value set through the console is seen on the next
// poll, and a sensor added at run time appears (SDR cache re-read).
func TestRuntimeChanges(t *testing.T) {
	s := startSim(t, ipmisim.Config{})
	b := open(t, s)
	ctx := ctxT(t, 10*time.Second)
	if _, err := b.Readings(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRaw(12, 91); err != nil { // CPU0 Temp 91 C: past critical 90
		t.Fatal(err)
	}
	rs, err := b.Readings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := find(rs, "CPU0 Temp")
	if r.Value != 91 || r.Status != sensor.StatusOK || r.Thresholds.Level(r.Value) != sensor.LevelCritical {
		t.Errorf("after setting CPU0 Temp to 91: %+v (level %v)", r, r.Thresholds.Level(r.Value))
	}
	added := ipmisim.Sensor{Number: 40, Name: "GPU0 Temp", Type: ipmisim.TypeTemperature, Unit: ipmisim.UnitCelsius,
		M: 1, Raw: 66, Thresholds: [6]uint8{0, 0, 0, 85, 90, 95}, Mask: 0x38}
	if err := s.AddSensor(added, 100); err != nil {
		t.Fatal(err)
	}
	rs, err = b.Readings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := find(rs, "GPU0 Temp")
	want := sensor.Reading{Name: "GPU0 Temp", Kind: sensor.KindTemperature, Value: 66, Unit: "C", Status: sensor.StatusOK,
		Thresholds: sensor.Thresholds{UpperCaution: sensor.At(85), UpperCritical: sensor.At(90), UpperFatal: sensor.At(95)}}
	if !ok {
		t.Fatalf("sensor added at run time not in the next poll (%d readings)", len(rs))
	}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(sensor.Reading{}, "Time")); d != "" {
		t.Errorf("added sensor (-want +got):\n%s", d)
	}
	if len(rs) != len(s.Sensors())+1 {
		t.Errorf("%d readings after adding one to %d", len(rs), len(s.Sensors()))
	}
}

// TestHealthEvents: threshold crossings raised at run time show up as SEL
// events in the next Health, and only once.
func TestHealthEvents(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	b := open(t, s)
	ctx := ctxT(t, 10*time.Second)
	if _, err := b.Readings(ctx); err != nil { // names for the events
		t.Fatal(err)
	}
	h, err := b.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Power != bmc.PowerOn || h.Failed() || len(h.Events) != 0 {
		t.Fatalf("first Health: %+v", h)
	}
	if err := s.SetRaw(1, 150); err != nil { // P12V 13.95 V: past upper critical 13.67
		t.Fatal(err)
	}
	h, err = b.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var crit bool
	for _, e := range h.Events {
		t.Logf("event: %+v", e)
		if e.Source == "P12V" && e.Severity == bmc.SeverityCritical && strings.Contains(e.Message, "upper critical going high asserted") {
			crit = true
		}
	}
	if !crit {
		t.Errorf("no critical P12V event among %+v", h.Events)
	}
	if h.Fault {
		t.Errorf("a threshold crossing marked the blade failed: %q (the engine judges readings itself)", h.Detail)
	}
	h, err = b.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != 0 {
		t.Errorf("events reported twice: %+v", h.Events)
	}
}

// TestPowerInChassisStatus: off, on and cycle show in chassis status and
// in the simulated server's power child process.
func TestPowerInChassisStatus(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	b := open(t, s)
	ctx := ctxT(t, 30*time.Second)
	first := s.PowerChild()
	if first == 0 {
		t.Fatal("simulated server not running at start")
	}
	if err := b.SetPower(ctx, bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.PowerState(ctx); st != bmc.PowerOff || s.PowerChild() != 0 {
		t.Fatalf("after off: state %v, child %d", st, s.PowerChild())
	}
	if err := b.SetPower(ctx, bmc.PowerActionOn); err != nil {
		t.Fatal(err)
	}
	second := s.WaitPowerChild(first, 5*time.Second)
	if st, _ := b.PowerState(ctx); st != bmc.PowerOn || second == 0 {
		t.Fatalf("after on: state %v, child %d (was %d)", st, second, first)
	}
	if err := b.SetPower(ctx, bmc.PowerActionCycle); err != nil {
		t.Fatal(err)
	}
	// The cycle restarts the child: wait for the new one.
	if s.WaitPowerChild(second, 10*time.Second) == 0 {
		t.Fatalf("power cycle did not restart the server (child %d)", s.PowerChild())
	}
	if st, _ := b.PowerState(ctx); st != bmc.PowerOn {
		t.Errorf("after cycle: %v", st)
	}
}

// TestWatchdogExpiryPowersDown: armed and not kicked, the timer expires,
// the adapter sees the expiry, the BMC powers the server down, and the
// SEL reports it.
func TestWatchdogExpiryPowersDown(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	b := open(t, s)
	ctx := ctxT(t, 20*time.Second)
	if _, err := b.Health(ctx); err != nil { // SEL baseline
		t.Fatal(err)
	}
	if err := b.Arm(ctx, time.Second, watchdog.ActionPowerDown); err != nil {
		t.Fatal(err)
	}
	var st watchdog.State
	deadline := time.Now().Add(5 * time.Second)
	for !st.Expired {
		if time.Now().After(deadline) {
			t.Fatalf("not expired 5 s after Arm(1s): %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
		var err error
		if st, err = b.State(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st.Running || st.Action != watchdog.ActionPowerDown || st.Timeout != time.Second {
		t.Errorf("expired state: %+v", st)
	}
	for p, _ := b.PowerState(ctx); p != bmc.PowerOff; p, _ = b.PowerState(ctx) {
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatal("the expiry did not power the server down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	h, err := b.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, e := range h.Events {
		if strings.HasPrefix(e.Message, "watchdog: power down asserted") && e.Severity == bmc.SeverityCritical {
			seen = true
		}
	}
	if !seen || !h.Failed() {
		t.Errorf("health after expiry: %+v", h)
	}
}

// TestBMCKilledMidPoll: polls running while the BMC dies get a clear
// ErrUnreachable; once it is back the same adapter recovers by itself.
func TestBMCKilledMidPoll(t *testing.T) {
	s := startSim(t, ipmisim.Config{PoweredOn: true})
	b := open(t, s)
	if _, err := b.Readings(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := b.Readings(ctx)
			cancel()
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	s.Kill()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	if len(errs) == 0 {
		t.Fatal("no error while the BMC was dead")
	}
	for _, err := range errs {
		if !errors.Is(err, bmc.ErrUnreachable) || !strings.Contains(err.Error(), s.Addr()) {
			t.Errorf("error while dead: %v; want bmc.ErrUnreachable naming %s", err, s.Addr())
		}
	}
	t.Logf("while dead: %d errors, e.g. %v", len(errs), errs[0])
	mu.Unlock()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	var rs []sensor.Reading
	var err error
	for i := range 3 { // the first call may still spend its time on the dead session
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rs, err = b.Readings(ctx)
		cancel()
		if err == nil {
			t.Logf("recovered on call %d", i+1)
			break
		}
	}
	if err != nil || len(rs) != len(s.Sensors()) {
		t.Fatalf("after restart: %d readings, err %v", len(rs), err)
	}
}

// TestThresholdsRefreshed: thresholds changed on the BMC are picked up
// after Config.ThresholdRefresh, without any SDR change.
func TestThresholdsRefreshed(t *testing.T) {
	s := startSim(t, ipmisim.Config{})
	cfg := simConfig(s)
	cfg.ThresholdRefresh = 300 * time.Millisecond
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := ctxT(t, 10*time.Second)
	if _, err := b.Readings(ctx); err != nil {
		t.Fatal(err)
	}
	// CPU0 Temp (sensor 12): UNC 70, UCR 80, UNR 90 instead of 85/90/95.
	if err := s.Console("sensor_set_threshold 0x20 0 12 settable 111000 0x5a 0x50 0x46 0 0 0"); err != nil {
		t.Fatal(err)
	}
	want := sensor.Thresholds{UpperCaution: sensor.At(70), UpperCritical: sensor.At(80), UpperFatal: sensor.At(90)}
	rs, err := b.Readings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := find(rs, "CPU0 Temp"); r.Thresholds == want {
		t.Error("thresholds re-read on every poll; they should be cached until ThresholdRefresh")
	}
	time.Sleep(cfg.ThresholdRefresh)
	if rs, err = b.Readings(ctx); err != nil {
		t.Fatal(err)
	}
	r, _ := find(rs, "CPU0 Temp")
	if d := cmp.Diff(want, r.Thresholds); d != "" {
		t.Errorf("thresholds after refresh (-want +got):\n%s", d)
	}
}

// TestErrorsWithoutPassword: refused logins and unreachable BMCs give
// errors that say so without quoting the password.
func TestErrorsWithoutPassword(t *testing.T) {
	s := startSim(t, ipmisim.Config{})
	cfg := simConfig(s)
	cfg.Password = "Wr0ng-pw-4711"
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.Readings(ctxT(t, 5*time.Second))
	if !errors.Is(err, bmc.ErrUnreachable) || !strings.Contains(err.Error(), "authentication refused") {
		t.Errorf("wrong password: %v", err)
	}
	u := unreachable(t)
	_, err2 := u.Health(ctxT(t, 5*time.Second))
	for _, e := range []error{err, err2, u.SetPower(ctxT(t, 5*time.Second), bmc.PowerActionOff)} {
		if e == nil {
			t.Fatal("no error")
		}
		if strings.Contains(e.Error(), "Wr0ng-pw-4711") || strings.Contains(e.Error(), "secret") {
			t.Errorf("error quotes a password: %v", e)
		}
	}
}
