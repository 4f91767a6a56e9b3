package rack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/clock"
	"github.com/rackha/failover/rack"
	"github.com/rackha/failover/sensor"
	"github.com/rackha/failover/watchdog"
)

func TestJournalKeepsTheLastN(t *testing.T) {
	j := rack.NewJournal(3)
	if _, ok := j.Last(); ok {
		t.Fatal("empty journal has a last entry")
	}
	for i := range 5 {
		j.Append(rack.Status{Server: "s", Err: string(rune('a' + i))})
	}
	var got []string
	for _, s := range j.Entries() {
		got = append(got, s.Err)
	}
	if d := cmp.Diff([]string{"c", "d", "e"}, got); d != "" {
		t.Errorf("entries (-want +got):\n%s", d)
	}
	if last, _ := j.Last(); last.Err != "e" || j.Len() != 3 {
		t.Errorf("Last = %q, Len = %d; want e, 3", last.Err, j.Len())
	}
	var buf bytes.Buffer
	if err := j.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("WriteJSON wrote %d lines, want 3", len(lines))
	}
	var st rack.Status
	if err := json.Unmarshal([]byte(lines[0]), &st); err != nil || st.Err != "c" {
		t.Errorf("first line %q: %v, Err %q", lines[0], err, st.Err)
	}
}

func TestTopologies(t *testing.T) {
	ring, err := rack.Ring("a", "b", "c")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"b"}, ring.Watched("a")); d != "" {
		t.Error(d)
	}
	if w := ring.WatcherOf("a"); w != "c" {
		t.Errorf("WatcherOf(a) = %q, want c", w)
	}
	pairs, err := rack.Pairs("a", "b", "c", "d")
	if err != nil {
		t.Fatal(err)
	}
	if pairs.WatcherOf("c") != "d" || pairs.WatcherOf("d") != "c" || pairs.WatcherOf("a") != "b" {
		t.Error("pairs do not watch each other")
	}
	for _, bad := range [][]string{{"a"}, {"a", "b", "c"}, {"a", "a"}, {"a", ""}} {
		if _, err := rack.Pairs(bad...); !errors.Is(err, rack.ErrInvalidConfig) {
			if _, err2 := rack.Ring(bad...); !errors.Is(err2, rack.ErrInvalidConfig) {
				t.Errorf("Pairs/Ring(%q) accepted", bad)
			}
		}
	}
}

func newRack(t *testing.T) (*rack.Local, *simbmc.BMC, *simbmc.BMC) {
	t.Helper()
	clock := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	mk := func(name string) *simbmc.BMC {
		cfg := simbmc.DefaultConfig(name)
		cfg.Clock = clock
		b, err := simbmc.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b1, b2 := mk("b1"), mk("b2")
	topo, err := rack.Pairs("b1", "b2")
	if err != nil {
		t.Fatal(err)
	}
	l, err := rack.NewLocal(rack.LocalConfig{Topology: topo, Now: clock.Now, Servers: []rack.Server{
		{Name: "b1", Sensors: b1, Health: b1, Watchdog: b1, Power: b1},
		{Name: "b2", Sensors: b2, Health: b2, Watchdog: b2, Power: b2},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return l, b1, b2
}

func TestLocalConfigValidateNamesTheField(t *testing.T) {
	topo, _ := rack.Pairs("b1", "b2")
	cases := map[string]rack.LocalConfig{
		"LocalConfig.Servers is empty":                   {Topology: topo},
		"LocalConfig.Servers[1].Name \"b1\" named twice": {Topology: topo, Servers: []rack.Server{{Name: "b1"}, {Name: "b1"}}},
		"no Servers entry":                               {Topology: topo, Servers: []rack.Server{{Name: "b1"}}},
		"LocalConfig.Interval -1s":                       {Topology: topo, Interval: -time.Second, Servers: []rack.Server{{Name: "b1"}, {Name: "b2"}}},
	}
	for want, cfg := range cases {
		_, err := rack.NewLocal(cfg)
		if !errors.Is(err, rack.ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("NewLocal: %v, want ErrInvalidConfig naming %q", err, want)
		}
	}
}

func TestPollReportsUnreachable(t *testing.T) {
	ctx := context.Background()
	l, b1, _ := newRack(t)
	b1.SetUnreachable(true)
	sts := l.Poll(ctx)
	if sts[0].Reachable || !strings.Contains(sts[0].Err, "unreachable") {
		t.Errorf("b1 status %+v: want unreachable with a reason", sts[0])
	}
	if !sts[1].Reachable || sts[1].Health.Power != bmc.PowerOn || len(sts[1].Readings) == 0 {
		t.Errorf("b2 status %+v: want reachable, on, with readings", sts[1])
	}
	if got := l.Journal("b1").Len(); got != 1 {
		t.Errorf("journal of b1 has %d entries, want 1", got)
	}
}

// fakeSource returns readings no sensor can give.
type fakeSource struct{}

func (fakeSource) Readings(context.Context) ([]sensor.Reading, error) {
	return []sensor.Reading{
		{Name: "CPU", Kind: sensor.KindTemperature, Value: math.NaN(), Unit: "C"},
		{Name: "12V", Kind: sensor.KindVoltage, Value: 12, Unit: "V"},
	}, nil
}

func TestPollMarksInvalidReadingsUnavailable(t *testing.T) {
	topo, _ := rack.Ring("a", "b")
	l, err := rack.NewLocal(rack.LocalConfig{Topology: topo, Servers: []rack.Server{{Name: "a", Sensors: fakeSource{}}, {Name: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.PollServer(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if st.Readings[0].Status != sensor.StatusUnavailable || st.Readings[0].Value != 0 {
		t.Errorf("NaN reading kept: %+v", st.Readings[0])
	}
	if st.Readings[1].Status != sensor.StatusOK || st.Readings[1].Value != 12 {
		t.Errorf("valid reading changed: %+v", st.Readings[1])
	}
	if _, err := l.PollServer(context.Background(), "zz"); !errors.Is(err, rack.ErrUnknownServer) {
		t.Errorf("PollServer(zz) = %v, want ErrUnknownServer", err)
	}
}

func TestWatchDeliversOnlyWatchedServersAndKeepsTheNewest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	l, _, _ := newRack(t)
	ch, err := l.Watch(ctx, "b2")
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // more than the buffer: old statuses are dropped
		l.Poll(ctx)
	}
	var n int
	var last rack.Status
	for len(ch) > 0 {
		last = <-ch
		n++
		if last.Server != "b1" {
			t.Fatalf("b2 got a status of %s", last.Server)
		}
	}
	if n == 0 || n > 12 {
		t.Errorf("got %d statuses, want between 1 and the buffer size 12 (4 per server of the rack, plus 4)", n)
	}
	if want, _ := l.Journal("b1").Last(); !last.Time.Equal(want.Time) {
		t.Errorf("last delivered status is not the newest")
	}
	cancel()
	for range ch { // closed once ctx ends
	}
	if _, err := l.Watch(context.Background(), "nobody"); !errors.Is(err, rack.ErrUnknownServer) {
		t.Errorf("Watch(nobody) = %v", err)
	}
}

func TestPowerReadsBack(t *testing.T) {
	ctx := context.Background()
	l, b1, _ := newRack(t)
	if err := l.Power(ctx, "b1", bmc.PowerActionOff); err != nil {
		t.Fatal(err)
	}
	if p, _ := b1.PowerState(ctx); p != bmc.PowerOff {
		t.Errorf("power %v after off", p)
	}
	if err := l.Power(ctx, "b1", bmc.PowerActionOff); err != nil {
		t.Errorf("off when already off = %v, want nil", err)
	}
	b1.FailPower(bmc.ErrIndeterminate)
	if err := l.Power(ctx, "b1", bmc.PowerActionOn); !errors.Is(err, bmc.ErrIndeterminate) {
		t.Errorf("Power with lost answer = %v, want ErrIndeterminate", err)
	}
	if err := l.Power(ctx, "zz", bmc.PowerActionOn); !errors.Is(err, rack.ErrUnknownServer) {
		t.Errorf("Power(zz) = %v", err)
	}
}

// noWatchdog is a watchdog role the BMC does not offer (a Redfish system
// without HostWatchdogTimer); Arm and Kick are never called by the rack
// manager.
type noWatchdog struct{ watchdog.Watchdog }

func (noWatchdog) State(context.Context) (watchdog.State, error) {
	return watchdog.State{}, fmt.Errorf("redfish system 1: no HostWatchdogTimer: %w", bmc.ErrNotOffered)
}

func TestPollWatchdogNotOfferedIsNoWatchdog(t *testing.T) {
	topo, _ := rack.Ring("a", "b")
	l, err := rack.NewLocal(rack.LocalConfig{Topology: topo, Servers: []rack.Server{{Name: "a", Watchdog: noWatchdog{}}, {Name: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.PollServer(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Reachable || st.WatchdogKnown || st.WatchdogErr != "" || st.Err != "" {
		t.Errorf("status %+v: want reachable, no watchdog known and no error", st)
	}
}
