package rack_test

import (
	"context"
	"fmt"
	"github.com/rackha/failover/clock"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/rack"
)

// A fast poll reads Health alone, delivers a Fast status to the watcher,
// and journals it only when it says something new.
func TestFastPollReadsOnlyHealth(t *testing.T) {
	ctx := context.Background()
	clock := clock.NewManual(epoch)
	mk := func(name string) *countingBMC {
		cfg := simbmc.DefaultConfig(name)
		cfg.Clock = clock
		b, err := simbmc.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return &countingBMC{BMC: b}
	}
	a, b := mk("a"), mk("b")
	topo, _ := rack.Pairs("a", "b")
	l, err := rack.NewLocal(rack.LocalConfig{Topology: topo, Parallel: 1, Now: clock.Now, Servers: []rack.Server{
		{Name: "a", Sensors: a, Health: a, Watchdog: a, Power: a},
		{Name: "b", Sensors: b, Health: b, Watchdog: b, Power: b},
	}})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := l.Watch(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	l.Poll(ctx) // a full status first, journaled
	if st := <-watch; st.Fast || len(st.Readings) == 0 || !st.WatchdogKnown {
		t.Fatalf("full status %+v", st)
	}

	clock.Advance(250 * time.Millisecond)
	sts := l.FastPoll(ctx)
	if d := cmp.Diff([]string{"a", "b"}, servers(sts)); d != "" {
		t.Fatalf("FastPoll servers (-want +got):\n%s", d)
	}
	if a.health.Load() != 2 || a.readings.Load() != 1 || a.wd.Load() != 1 {
		t.Errorf("reads of a after one full and one fast poll: health %d readings %d watchdog %d; want 2 1 1",
			a.health.Load(), a.readings.Load(), a.wd.Load())
	}
	st := <-watch
	if !st.Fast || st.Readings != nil || st.WatchdogKnown || !st.Reachable || st.Health.Power != bmc.PowerOn || !st.Time.Equal(clock.Now()) {
		t.Errorf("fast status %+v: want Fast, on, reachable, no readings or watchdog, Time now", st)
	}
	if n := l.Journal("a").Len(); n != 1 {
		t.Errorf("a fast status that confirms the last was journaled: %d entries, want 1", n)
	}

	a.LosePower()
	clock.Advance(250 * time.Millisecond)
	l.FastPoll(ctx)
	st = <-watch
	if !st.Fast || st.Health.Power != bmc.PowerOff || !st.Health.MainPowerFault || len(st.Health.Events) == 0 {
		t.Errorf("fast status after power loss %+v: want off, main power fault, the event", st)
	}
	last, _ := l.Journal("a").Last()
	if l.Journal("a").Len() != 2 || !last.Fast || last.Health.Power != bmc.PowerOff {
		t.Errorf("the fast status that saw the power loss was not journaled: %d entries, last %+v", l.Journal("a").Len(), last)
	}
}

// Without a HealthReader the fast poll reads PowerState; a server with
// neither is left out.
func TestFastPollFallsBackToPowerState(t *testing.T) {
	b, err := simbmc.New(simbmc.DefaultConfig("a"))
	if err != nil {
		t.Fatal(err)
	}
	c := &countingBMC{BMC: b}
	topo, _ := rack.Ring("a", "b", "c")
	l, err := rack.NewLocal(rack.LocalConfig{Topology: topo, Servers: []rack.Server{{Name: "a", Power: c}, {Name: "b"}, {Name: "c", Sensors: c}}})
	if err != nil {
		t.Fatal(err)
	}
	sts := l.FastPoll(context.Background())
	if len(sts) != 1 || sts[0].Server != "a" || !sts[0].Fast || sts[0].Health.Power != bmc.PowerOn {
		t.Fatalf("FastPoll = %+v, want one fast status of a, on", sts)
	}
	if c.power.Load() != 1 || c.readings.Load() != 0 {
		t.Errorf("PowerState read %d times, Readings %d; want 1, 0", c.power.Load(), c.readings.Load())
	}
}

// Run delivers a power loss within a few FastIntervals although the next
// full poll is an hour away; a negative FastInterval turns the fast poll
// off.
func TestRunFastPollDeliversPowerLoss(t *testing.T) {
	for _, fast := range []time.Duration{20 * time.Millisecond, -1} {
		t.Run(fmt.Sprint(fast), func(t *testing.T) {
			b1, _ := simbmc.New(simbmc.DefaultConfig("b1"))
			b2, _ := simbmc.New(simbmc.DefaultConfig("b2"))
			topo, _ := rack.Pairs("b1", "b2")
			l, err := rack.NewLocal(rack.LocalConfig{Topology: topo, Interval: time.Hour, FastInterval: fast, Servers: []rack.Server{
				{Name: "b1", Sensors: b1, Health: b1, Watchdog: b1, Power: b1},
				{Name: "b2", Sensors: b2, Health: b2, Watchdog: b2, Power: b2},
			}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			watch, _ := l.Watch(ctx, "b2")
			done := make(chan struct{})
			go func() { _ = l.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			if st := <-watch; st.Fast {
				t.Fatalf("first status is fast: %+v", st)
			}
			b1.LosePower()
			start := time.Now()
			wait := 5 * time.Second
			if fast < 0 {
				wait = 300 * time.Millisecond // 15 fast intervals of the other case
			}
			timeout := time.After(wait)
			for {
				select {
				case st := <-watch:
					if fast < 0 {
						t.Fatalf("status %+v with the fast poll off and the full poll an hour away", st)
					}
					if !st.Fast {
						t.Fatalf("non-fast status %+v", st)
					}
					if st.Health.Power == bmc.PowerOff {
						t.Logf("power loss to watcher: %v", time.Since(start))
						return
					}
				case <-timeout:
					if fast > 0 {
						t.Fatalf("no fast status with power off within %v", wait)
					}
					return
				}
			}
		})
	}
}

// slowHealth answers Health after a random pause, to shuffle concurrent
// reads.
type slowHealth struct {
	*simbmc.BMC
	rng func() time.Duration
}

func (s slowHealth) Health(ctx context.Context) (bmc.Health, error) {
	time.Sleep(s.rng())
	return s.BMC.Health(ctx)
}

// Full, fast and single reads running at once, Parallel > 1, never hand
// a watcher (or the journal) an older status of a server after a newer
// one. Each call of Now returns a later time, so Time orders the reads.
func TestStatusesStayInOrderUnderConcurrentPolls(t *testing.T) {
	var tick atomic.Int64
	now := func() time.Time { return epoch.Add(time.Duration(tick.Add(1))) }
	var rmu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	pause := func() time.Duration {
		rmu.Lock()
		defer rmu.Unlock()
		return time.Duration(rng.IntN(200)) * time.Microsecond
	}
	names := []string{"a", "b", "c", "d"}
	topo, _ := rack.Ring(names...)
	var srv []rack.Server
	for _, n := range names {
		b, _ := simbmc.New(simbmc.DefaultConfig(n))
		h := slowHealth{b, pause}
		srv = append(srv, rack.Server{Name: n, Sensors: b, Health: h, Watchdog: b, Power: b})
	}
	l, err := rack.NewLocal(rack.LocalConfig{Topology: topo, Servers: srv, Parallel: 4, Now: now, JournalSize: 10000})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	var delivered atomic.Int64
	for _, w := range names {
		ch, err := l.Watch(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			last := map[string]time.Time{}
			for st := range ch {
				delivered.Add(1)
				if st.Time.Before(last[st.Server]) {
					t.Errorf("watcher %s got %s's status of %v after one of %v", w, st.Server, st.Time.Sub(epoch), last[st.Server].Sub(epoch))
				}
				last[st.Server] = st.Time
			}
		}()
	}
	var pollers sync.WaitGroup
	for i, poll := range []func(){
		func() { l.Poll(ctx) },
		func() { l.FastPoll(ctx) },
		func() { l.FastPoll(ctx) },
		func() { _, _ = l.PollServer(ctx, "b") },
	} {
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			for range 40 + i {
				poll()
			}
		}()
	}
	pollers.Wait()
	cancel()
	readers.Wait()
	for _, n := range names {
		es := l.Journal(n).Entries()
		for i := 1; i < len(es); i++ {
			if es[i].Time.Before(es[i-1].Time) {
				t.Errorf("journal of %s: entry %d (%v) older than entry %d (%v)", n, i, es[i].Time.Sub(epoch), i-1, es[i-1].Time.Sub(epoch))
			}
		}
	}
	if delivered.Load() < 160 {
		t.Errorf("only %d statuses delivered", delivered.Load())
	}
}

// The cost of one fast poll of a 16-server rack against one full poll, on
// simbmc (no network): what the rack manager itself adds.
func BenchmarkPoll16(b *testing.B) {
	for _, kind := range []string{"fast", "full"} {
		for _, par := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/parallel=%d", kind, par), func(b *testing.B) {
				var names []string
				for i := range 16 {
					names = append(names, fmt.Sprintf("s%02d", i))
				}
				topo, _ := rack.Ring(names...)
				r := newSimRack(b, topo, func(c *rack.LocalConfig) { c.Parallel = par })
				ctx := context.Background()
				poll := r.l.Poll
				if kind == "fast" {
					poll = r.l.FastPoll
				}
				b.ReportAllocs()
				for b.Loop() {
					if n := len(poll(ctx)); n != 16 {
						b.Fatalf("%d statuses", n)
					}
				}
			})
		}
	}
}
