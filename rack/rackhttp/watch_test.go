package rackhttp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rackha/failover/internal/logsink"
	"github.com/rackha/failover/rack"
)

// TestWatchLatestAtOnce: a watcher that connects after a poll gets the
// latest status of the server it watches at once, with no new poll, and
// then every status.
func TestWatchLatestAtOnce(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	ctx := t.Context()
	first := r.local.Poll(ctx)
	ch, err := r.client("s1").Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	st := next(t, ch, 2*time.Second)
	if st.Server != "s2" || !st.Time.Equal(first[1].Time) {
		t.Fatalf("first status %s at %v, want s2's latest at %v", st.Server, st.Time, first[1].Time)
	}
	if len(st.Readings) == 0 || !st.Readings[0].Thresholds.UpperCritical.Set && !st.Readings[0].Thresholds.LowerCritical.Set {
		t.Errorf("readings came without thresholds: %+v", st.Readings)
	}
	second := r.local.Poll(ctx)
	if st := next(t, ch, 2*time.Second); !st.Time.Equal(second[1].Time) {
		t.Fatalf("next status at %v, want %v", st.Time, second[1].Time)
	}
	select {
	case st := <-ch:
		t.Fatalf("unexpected status %s at %v (a repeat?)", st.Server, st.Time)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestWatchReconnectGetsLatest: when the rack manager drops the
// connection, the client reconnects by itself and gets the latest status
// at once, without a new poll.
func TestWatchReconnectGetsLatest(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	ctx := t.Context()
	r.local.Poll(ctx)
	ch, err := r.client("s1").Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch, 2*time.Second)
	latest := r.local.Poll(ctx)[1]
	next(t, ch, 2*time.Second)
	before := r.conns.accepted()
	r.conns.dropAll()
	st := next(t, ch, 3*time.Second)
	if !st.Time.Equal(latest.Time) {
		t.Fatalf("after reconnect got status at %v, want the latest at %v", st.Time, latest.Time)
	}
	if r.conns.accepted() <= before {
		t.Fatal("no new connection: the status did not come from a reconnect")
	}
}

// TestWatchStallReconnects: a stream that stops carrying bytes while its
// connection stays open (no status, no heartbeat) is detected after
// StallAfter and reconnected, and the new stream starts with the latest
// status.
func TestWatchStallReconnects(t *testing.T) {
	var watches atomic.Int32
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/v1/watch" && watches.Add(1) == 1 {
				w = &freezing{ResponseWriter: w, ctx: req.Context()}
			}
			h.ServeHTTP(w, req)
		})
	}
	r := newTestRack(t, rackOpts{wrap: wrap})
	ctx := t.Context()
	r.local.Poll(ctx)
	const stall = 400 * time.Millisecond
	ch, err := r.client("s1", func(c *ClientConfig) { c.StallAfter = stall }).Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch, 2*time.Second) // through the first write, then the stream freezes
	latest := r.local.Poll(ctx)[1]
	start := time.Now()
	st := next(t, ch, 5*time.Second)
	took := time.Since(start)
	if !st.Time.Equal(latest.Time) {
		t.Fatalf("after the stall got status at %v, want the latest at %v", st.Time, latest.Time)
	}
	if watches.Load() < 2 {
		t.Fatal("the status did not come over a new stream")
	}
	if took < stall/2 || took > stall+2*time.Second {
		t.Errorf("stall detected after %v, want about StallAfter %v plus a backoff", took, stall)
	}
}

// freezing passes the first Write through, then blocks every later one
// until the request ends: a rack manager that stops sending but keeps
// the connection.
type freezing struct {
	http.ResponseWriter
	ctx    context.Context
	writes int
}

func (f *freezing) Write(p []byte) (int, error) {
	f.writes++
	if f.writes > 1 {
		<-f.ctx.Done()
		return 0, f.ctx.Err()
	}
	return f.ResponseWriter.Write(p)
}

func (f *freezing) Flush() {
	if f.writes <= 1 {
		f.ResponseWriter.(http.Flusher).Flush()
	}
}

// TestWatchOtherNameForbidden: s1's certificate may not open s2's stream.
func TestWatchOtherNameForbidden(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	_, err := r.client("s1").Watch(t.Context(), "s2")
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("watch as s2 with s1's certificate: %v, want ErrForbidden", err)
	}
	_, err = r.client("operator").Watch(t.Context(), "operator")
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("operator's watch: %v, want ErrForbidden", err)
	}
}

// TestWatchFollowsHandover: in a ring, when s2 (s1's watcher) is gone
// for HandoverAfter, s1's statuses go to s3's stream: the set of watched
// servers changes on an open stream.
func TestWatchFollowsHandover(t *testing.T) {
	r := newTestRack(t, rackOpts{servers: []string{"s1", "s2", "s3"}, ring: true,
		local: func(c *rack.LocalConfig) { c.HandoverAfter = 200 * time.Millisecond }})
	ctx := t.Context()
	r.local.Poll(ctx)
	// Ring: s1 watches s2, s2 watches s3, s3 watches s1. s2 never watches.
	ch3, err := r.client("s3").Watch(ctx, "s3")
	if err != nil {
		t.Fatal(err)
	}
	ch1, err := r.client("s1").Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if st := next(t, ch3, 2*time.Second); st.Server != "s1" {
		t.Fatalf("s3 got %s first, want s1", st.Server)
	}
	next(t, ch1, 2*time.Second)
	time.Sleep(300 * time.Millisecond)
	r.local.Poll(ctx)
	got := map[string]bool{}
	deadline := time.After(3 * time.Second)
	for !got["s3"] {
		select {
		case st := <-ch1:
			got[st.Server] = true
		case <-deadline:
			t.Fatalf("s1 got statuses of %v, want s3's (handed over from gone s2)", got)
		}
	}
	if !r.local.MayPower("s1", "s3") {
		t.Fatal("s1 may not power s3 after the hand-over")
	}
}

// TestSlowReaderDoesNotBlock: a watcher that never reads does not hold
// up the rack manager's polls, and once it reads it gets the newest
// status.
func TestSlowReaderDoesNotBlock(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	ctx := t.Context()
	ch, err := r.client("s1").Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	var last rack.Status
	start := time.Now()
	for range 3 * watchBuffer {
		last = r.local.Poll(ctx)[1]
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("%d polls took %v with a reader that does not read", 3*watchBuffer, d)
	}
	deadline := time.After(3 * time.Second)
	for {
		select {
		case st := <-ch:
			if st.Time.Equal(last.Time) {
				return
			}
		case <-deadline:
			t.Fatal("the newest status never arrived")
		}
	}
}

// TestBackoffFullJitter: each delay is drawn in [0, ceiling], the
// ceiling doubles from Backoff to MaxBackoff, and delays are spread, not
// fixed.
func TestBackoffFullJitter(t *testing.T) {
	c := &Client{cfg: ClientConfig{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	c.rand = func(n int64) int64 { return n - 1 } // the top of the range
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if got := c.backoff(attempt); got != want*time.Millisecond {
			t.Errorf("ceiling of attempt %d = %v, want %v", attempt, got, want*time.Millisecond)
		}
	}
	if got := c.backoff(1000); got != time.Second {
		t.Errorf("ceiling of attempt 1000 = %v, want MaxBackoff", got)
	}
	c.rand = mrand.Int64N
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		d := c.backoff(3)
		if d < 0 || d > 800*time.Millisecond {
			t.Fatalf("delay %v outside [0, 800ms]", d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > 100*time.Millisecond || hi < 700*time.Millisecond {
		t.Errorf("delays span [%v, %v]: not full jitter over [0, 800ms]", lo, hi)
	}
}

// TestOversizedEvent: a status event bigger than MaxEventBytes is an
// error naming the size, and the client reconnects; once the rack
// manager has a smaller latest status, it arrives.
func TestOversizedEvent(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	ctx := t.Context()
	r.bmcs["s2"].SetFault(true, strings.Repeat("very long fault detail ", 500))
	r.local.Poll(ctx)
	var logs logsink.Buffer
	c := r.client("s1", func(c *ClientConfig) {
		c.MaxEventBytes = 8192
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	ch, err := c.Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(logs.String(), "over 8192 bytes") {
		if time.Now().After(deadline) {
			t.Fatalf("no error naming the size; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case st := <-ch:
		t.Fatalf("an oversized status was delivered (%d bytes of detail)", len(st.Health.Detail))
	default:
	}
	r.bmcs["s2"].SetFault(false, "")
	r.local.Poll(ctx) // its SEL events still carry the long detail
	small := r.local.Poll(ctx)[1]
	var st rack.Status
	select {
	case st = <-ch:
		if strings.Contains(logs.String(), "rate limited") {
			t.Errorf("the reconnects after oversized events hit the rate limit: no backoff?")
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("no status after the small one; logs:\n%s", logs.String())
	}
	if !st.Time.Equal(small.Time) {
		t.Fatalf("got status at %v, want the small one at %v", st.Time, small.Time)
	}
}

// TestHeartbeatKeepsIdleStream: with no status for several StallAfter,
// heartbeats keep the stream open: no reconnect.
func TestHeartbeatKeepsIdleStream(t *testing.T) {
	t.Parallel() // mostly waiting
	r := newTestRack(t, rackOpts{})
	ctx := t.Context()
	r.local.Poll(ctx)
	ch, err := r.client("s1", func(c *ClientConfig) { c.StallAfter = 300 * time.Millisecond }).Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch, 2*time.Second)
	before := r.conns.accepted()
	time.Sleep(1200 * time.Millisecond)
	if n := r.conns.accepted(); n != before {
		t.Fatalf("%d reconnects on an idle stream with heartbeats", n-before)
	}
	select {
	case st := <-ch:
		t.Fatalf("a status %v on an idle stream (a reconnect's latest?)", st.Time)
	default:
	}
}

// TestIdleTimeoutClosesStream: a watcher that stops reading has its
// stream closed after IdleTimeout once its writes block, and the rack
// manager keeps polling meanwhile.
func TestIdleTimeoutClosesStream(t *testing.T) {
	t.Parallel() // mostly waiting
	var logs logsink.Buffer
	r := newTestRack(t, rackOpts{handler: func(c *HandlerConfig) {
		c.IdleTimeout = 300 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	}})
	r.conns.smallSendBuffers()
	ctx := t.Context()
	// A small receive window from the start, so that the server's
	// writes block soon.
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := tls.DialWithDialer(d, "tcp", strings.TrimPrefix(r.url, "https://"), ClientTLS(r.ca.files(t, "s1"), "rack-manager"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /v1/watch?watcher=s1 HTTP/1.1\r\nHost: rack-manager\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// Never read; big statuses pile up until the server's writes block.
	r.bmcs["s2"].SetFault(true, strings.Repeat("x", 64<<10))
	// Closed after IdleTimeout; crypto/tls then spends up to 5 s more
	// trying to send its close alert, which the log line waits for.
	deadline := time.Now().Add(300*time.Millisecond + 5*time.Second + 2*time.Second)
	for !strings.Contains(logs.String(), "i/o timeout") {
		if time.Now().After(deadline) {
			t.Fatal("the stream of a watcher that does not read was not closed")
		}
		r.local.Poll(ctx)
	}
}

// TestShutdownEndsStreams: http.Server.Shutdown of NewServer's server
// finishes with a stream open (the stream ends), and the client keeps
// trying to reconnect rather than closing its channel.
func TestShutdownEndsStreams(t *testing.T) {
	r := newTestRack(t, rackOpts{})
	ctx := t.Context()
	r.local.Poll(ctx)
	ch, err := r.client("s1").Watch(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	next(t, ch, 2*time.Second)
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := r.server.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with an open stream: %v", err)
	}
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("the client closed its channel when the rack manager went away")
		}
	case <-time.After(300 * time.Millisecond):
	}
}
