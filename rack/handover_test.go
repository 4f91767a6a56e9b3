package rack_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/internal/logsink"
	"github.com/rackha/failover/rack"
)

// ring3 is a ring where a watches b, b watches c and c watches a.
func ring3(t *testing.T, edit func(*rack.LocalConfig)) (*simRack, *logsink.Buffer) {
	t.Helper()
	topo, err := rack.Ring("a", "b", "c")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logsink.Buffer{}
	r := newSimRack(t, topo, func(c *rack.LocalConfig) {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		if edit != nil {
			edit(c)
		}
	})
	return r, logs
}

// expect checks which servers' statuses each watcher holds now, in order.
func expect(t *testing.T, step string, got map[string]<-chan rack.Status, want map[string][]string) {
	t.Helper()
	for w, ch := range got {
		if d := cmp.Diff(want[w], servers(drain(ch))); d != "" {
			t.Errorf("%s: statuses delivered to %s (-want +got):\n%s", step, w, d)
		}
	}
}

func watchAll(t *testing.T, ctx context.Context, l *rack.Local, names ...string) map[string]<-chan rack.Status {
	t.Helper()
	m := map[string]<-chan rack.Status{}
	for _, n := range names {
		ch, err := l.Watch(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		m[n] = ch
	}
	return m
}

func checkWatcher(t *testing.T, step string, l *rack.Local, server, want string) {
	t.Helper()
	if got := l.WatcherOf(server); got != want {
		t.Errorf("%s: WatcherOf(%s) = %q, want %q", step, server, got, want)
	}
	for _, w := range []string{"a", "b", "c", "d"} {
		if may := l.MayPower(w, server); may != (w == want) {
			t.Errorf("%s: MayPower(%s, %s) = %v, want %v", step, w, server, may, w == want)
		}
	}
}

// When b's watcher a closes its Watch for good, b's statuses go to a's
// own watcher c once a has been gone for HandoverAfter, and come back to
// a as soon as it watches again.
func TestHandoverWhenTheWatcherLeaves(t *testing.T) {
	ctx := context.Background()
	const after = 3 * time.Second // the caller's HandoverAfter is kept
	r, logs := ring3(t, func(c *rack.LocalConfig) { c.HandoverAfter = after })
	ctxA, leaveA := context.WithCancel(ctx)
	chA, _ := r.l.Watch(ctxA, "a")
	w := watchAll(t, ctx, r.l, "b", "c")
	w["a"] = chA
	r.l.Poll(ctx)
	expect(t, "all watching", w, map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}})
	checkWatcher(t, "all watching", r.l, "b", "a")

	leaveA()
	for range chA { // closed: a is gone as of now
	}
	delete(w, "a")
	r.clock.Advance(after - time.Nanosecond)
	r.l.Poll(ctx)
	expect(t, "a just gone", w, map[string][]string{"b": {"c"}, "c": {"a"}})
	checkWatcher(t, "a just gone", r.l, "b", "a")

	r.clock.Advance(time.Nanosecond)
	r.l.Poll(ctx)
	expect(t, "a gone for HandoverAfter", w, map[string][]string{"b": {"c"}, "c": {"a", "b"}})
	checkWatcher(t, "a gone for HandoverAfter", r.l, "b", "c")
	if d := cmp.Diff([]string{"a", "b"}, r.l.Watching("c")); d != "" {
		t.Errorf("Watching(c) (-want +got):\n%s", d)
	}
	if !strings.Contains(logs.String(), `msg="rack: watching handed over" server=b from=a to=c`) {
		t.Errorf("no hand-over log line in:\n%s", logs)
	}
	r.l.FastPoll(ctx)
	expect(t, "fast poll", w, map[string][]string{"b": {"c"}, "c": {"a", "b"}})

	chA2, _ := r.l.Watch(ctx, "a")
	w["a"] = chA2
	r.l.Poll(ctx)
	expect(t, "a back", w, map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}})
	checkWatcher(t, "a back", r.l, "b", "a")
	if !strings.Contains(logs.String(), `msg="rack: watching handed back" server=b from=c to=a`) {
		t.Errorf("no hand-back log line in:\n%s", logs)
	}
	if strings.Contains(logs.String(), "nobody live") {
		t.Errorf("an orphan was logged though c was live:\n%s", logs)
	}
}

// A watcher whose own status says powered off is not live, though its
// Watch stays open; once it is on again it watches again.
func TestHandoverWhenTheWatcherIsPoweredOff(t *testing.T) {
	ctx := context.Background()
	r, _ := ring3(t, nil) // HandoverAfter: default 10 s
	w := watchAll(t, ctx, r.l, "a", "b", "c")
	r.bmc["a"].LosePower()
	r.l.Poll(ctx)
	expect(t, "a off", w, map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}})

	r.clock.Advance(10*time.Second - time.Nanosecond)
	r.l.FastPoll(ctx)
	expect(t, "a off for just under 10 s", w, map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}})
	r.clock.Advance(time.Nanosecond)
	r.l.FastPoll(ctx)
	expect(t, "a off for 10 s", w, map[string][]string{"a": nil, "b": {"c"}, "c": {"a", "b"}})
	checkWatcher(t, "a off for 10 s", r.l, "b", "c")

	r.bmc["a"].RestorePower()
	if err := r.bmc["a"].SetPower(ctx, bmc.PowerActionOn); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Second)
	r.l.Poll(ctx) // a's status (on) comes first in the round, so b's goes back to a
	expect(t, "a on", w, map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}})
	checkWatcher(t, "a on", r.l, "b", "a")
}

// Along a ring the watching skips dead servers; when nobody else is live
// a server stays with its own watcher. A server never watches itself.
func TestHandoverSkipsDeadServers(t *testing.T) {
	ctx := context.Background()
	// a watches b, b watches c, c watches d, d watches a.
	topo, _ := rack.Ring("a", "b", "c", "d")
	r := newSimRack(t, topo, nil)
	ctxC, leaveC := context.WithCancel(ctx)
	chC, _ := r.l.Watch(ctxC, "c")
	chB, _ := r.l.Watch(ctx, "b")
	w := map[string]<-chan rack.Status{"b": chB, "c": chC}
	r.l.Poll(ctx) // a and d never watch, but they have not been gone for 10 s yet
	expect(t, "start", w, map[string][]string{"b": {"c"}, "c": {"d"}})

	r.clock.Advance(10 * time.Second)
	r.l.Poll(ctx)
	// b's watcher a and a's watcher d are dead: b goes to d's watcher c;
	// a (watched by dead d) goes to c as well.
	expect(t, "a and d dead", w, map[string][]string{"b": {"c"}, "c": {"a", "b", "d"}})
	checkWatcher(t, "a and d dead", r.l, "b", "c")
	checkWatcher(t, "a and d dead", r.l, "a", "c")

	leaveC()
	for range chC {
	}
	delete(w, "c")
	r.clock.Advance(10 * time.Second)
	r.l.Poll(ctx)
	// Only b is live: it watches everyone else; b has nobody but its own
	// dead watcher a.
	expect(t, "only b live", w, map[string][]string{"b": {"a", "c", "d"}})
	if d := cmp.Diff([]string{"a", "c", "d"}, r.l.Watching("b")); d != "" {
		t.Errorf("Watching(b) (-want +got):\n%s", d)
	}
	checkWatcher(t, "only b live", r.l, "b", "a")
	if r.l.MayPower("b", "b") {
		t.Error("MayPower(b, b): a server may power itself")
	}
}

// In Pairs nobody else can take over: the partner stays the watcher.
func TestPairsHaveNobodyToHandOverTo(t *testing.T) {
	ctx := context.Background()
	topo, _ := rack.Pairs("a", "b", "c", "d")
	logs := &logsink.Buffer{}
	r := newSimRack(t, topo, func(c *rack.LocalConfig) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	w := watchAll(t, ctx, r.l, "b", "c", "d") // a never watches
	r.clock.Advance(time.Minute)
	r.l.Poll(ctx)
	expect(t, "a gone", w, map[string][]string{"b": {"a"}, "c": {"d"}, "d": {"c"}})
	if !strings.Contains(logs.String(), `level=WARN msg="rack: nobody live can watch server; its statuses go to its gone watcher" server=b watcher=a`) {
		t.Errorf("b left unwatched without a warning:\n%s", logs)
	}
	if got := r.l.WatcherOf("b"); got != "a" {
		t.Errorf("WatcherOf(b) = %q, want a (its partner; nobody else)", got)
	}
	if r.l.WatcherOf("zz") != "" || r.l.MayPower("a", "zz") || r.l.MayPower("", "b") {
		t.Error("unknown server or watcher accepted")
	}
}

// Until a first Watch nobody counts as gone: a caller that only polls
// (a simulation handing statuses out itself) sees the topology. From the
// first Watch on, a watcher that never opened one is gone.
func TestHandoverStartsWithTheFirstWatch(t *testing.T) {
	ctx := context.Background()
	r, logs := ring3(t, nil)
	r.clock.Advance(time.Hour)
	r.l.Poll(ctx)
	for _, s := range []string{"a", "b", "c"} {
		if got, want := r.l.WatcherOf(s), r.l.Topology().WatcherOf(s); got != want {
			t.Errorf("without any Watch, WatcherOf(%s) = %q, want %q", s, got, want)
		}
	}
	if logs.String() != "" {
		t.Errorf("hand-over logs without any Watch:\n%s", logs)
	}
	w := watchAll(t, ctx, r.l, "c") // a and b have 10 s from now
	r.clock.Advance(10*time.Second - time.Nanosecond)
	r.l.Poll(ctx)
	expect(t, "c watches", w, map[string][]string{"c": {"a"}})
	r.clock.Advance(time.Nanosecond)
	r.l.Poll(ctx)
	// b's watcher a is gone: c takes b; c's watcher b is gone, and a is
	// gone too, so nobody stands in for b.
	expect(t, "a and b gone", w, map[string][]string{"c": {"a", "b"}})
	checkWatcher(t, "a and b gone", r.l, "c", "b")
}

// The same hand-over and hand-back under Run, in real time, with
// Parallel > 1 (run with -race).
func TestHandoverUnderRun(t *testing.T) {
	topo, _ := rack.Ring("a", "b", "c")
	var srv []rack.Server
	for _, n := range topo.Servers() {
		b, err := simbmc.New(simbmc.DefaultConfig(n))
		if err != nil {
			t.Fatal(err)
		}
		srv = append(srv, rack.Server{Name: n, Sensors: b, Health: b, Watchdog: b, Power: b})
	}
	l, err := rack.NewLocal(rack.LocalConfig{Topology: topo, Servers: srv, Parallel: 3,
		Interval: 20 * time.Millisecond, FastInterval: 5 * time.Millisecond, HandoverAfter: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctxA, leaveA := context.WithCancel(ctx)
	chA, _ := l.Watch(ctxA, "a")
	chC, _ := l.Watch(ctx, "c")
	_, _ = l.Watch(ctx, "b")
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor := func(step string, ch <-chan rack.Status, server string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case st, ok := <-ch:
				if !ok {
					t.Fatalf("%s: channel closed", step)
				}
				if st.Server == server {
					return
				}
			case <-timeout:
				t.Fatalf("%s: no status of %s within 5 s", step, server)
			}
		}
	}
	waitFor("start", chA, "b")
	leaveA()
	for range chA {
	}
	start := time.Now()
	waitFor("a gone", chC, "b")
	if since := time.Since(start); since < 50*time.Millisecond {
		t.Errorf("b handed over after %v, before HandoverAfter", since)
	}
	chA2, _ := l.Watch(ctx, "a")
	waitFor("a back", chA2, "b")
	if got := l.WatcherOf("b"); got != "a" {
		t.Errorf("WatcherOf(b) = %q after a came back", got)
	}
}
