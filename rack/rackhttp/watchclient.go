package rackhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rackha/failover/rack"
)

// watchBuffer is how many statuses a Watch channel holds; when full the
// oldest is dropped for the newest, as rack.Local does.
const watchBuffer = 64

// Watch implements rack.Manager. It connects once before returning: a
// refusal (watcher is not this client's certificate name, or unknown)
// is returned as an error wrapping ErrForbidden or ErrUnauthenticated
// (rack.ErrUnknownServer too when the rack manager does not know the
// name). If the rack manager cannot be reached, Watch still returns the
// channel and keeps trying. From then on the stream is reconnected,
// with backoff and full jitter, whenever it ends, fails or stalls, until
// ctx ends; then the channel is closed. Each connect delivers at once
// the latest status of each server watcher watches.
func (c *Client) Watch(ctx context.Context, watcher string) (<-chan rack.Status, error) {
	if watcher == "" {
		return nil, fmt.Errorf("rackhttp: watch: empty watcher name")
	}
	resp, cancel, err := c.connect(ctx, watcher)
	var refused *refusal
	if errors.As(err, &refused) {
		return nil, fmt.Errorf("rackhttp: watch as %q: %w", watcher, refused.err)
	}
	if err != nil {
		c.cfg.Logger.Warn("rackhttp: rack manager not reached; retrying", "watcher", watcher, "err", err)
	}
	out := make(chan rack.Status, watchBuffer)
	go c.follow(ctx, watcher, resp, cancel, out)
	return out, nil
}

// refusal is the rack manager saying no to a watch.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }

// connect opens one stream on the leading replica; resp is the 200
// answer, and cancel ends it.
func (c *Client) connect(ctx context.Context, watcher string) (resp *http.Response, cancel context.CancelFunc, err error) {
	err = c.onLeader(ctx, func(base string) (attempt, error) {
		var a attempt
		var err error
		resp, cancel, a, err = c.connectTo(ctx, base, watcher)
		return a, err
	})
	return resp, cancel, err
}

// connectTo opens one stream on base.
func (c *Client) connectTo(ctx context.Context, base, watcher string) (_ *http.Response, _ context.CancelFunc, _ attempt, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		if err != nil {
			cancel()
		}
	}()
	u := base + "/v1/watch?watcher=" + url.QueryEscape(watcher)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, attempt{}, err
	}
	req.Header.Set("Accept", "text/event-stream")
	// The answer's headers come at once; one that does not within
	// StallAfter is a stall too.
	timer := time.AfterFunc(c.cfg.StallAfter, cancel)
	resp, err := c.http.Do(req)
	if !timer.Stop() && err != nil {
		err = fmt.Errorf("no answer within %v: %w", c.cfg.StallAfter, err)
	}
	if err != nil {
		if refusedHandshake(err) {
			return nil, nil, attempt{}, &refusal{err: fmt.Errorf("the rack manager refused the TLS handshake: %w: %w", ErrUnauthenticated, err)}
		}
		return nil, nil, attempt{retry: true}, fmt.Errorf("%s: %w", base, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, cancel, attempt{}, nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	err = answerError(resp.StatusCode, data, false)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, nil, attempt{}, &refusal{err: err}
	}
	if leader, ok := notLeaderHint(resp.StatusCode, data); ok {
		return nil, nil, attempt{retry: true, hint: leader}, fmt.Errorf("%s: %w", base, err)
	}
	return nil, nil, attempt{}, err
}

// follow reads resp's stream into out, reconnecting until ctx ends.
func (c *Client) follow(ctx context.Context, watcher string, resp *http.Response, cancel context.CancelFunc, out chan rack.Status) {
	defer close(out)
	attempt := 0
	for {
		if resp != nil {
			got, err := c.read(ctx, resp, cancel, out)
			if got {
				attempt = 0
			}
			if ctx.Err() != nil {
				return
			}
			c.cfg.Logger.Warn("rackhttp: status stream ended; reconnecting", "watcher", watcher, "err", err)
		}
		d := c.backoff(attempt)
		attempt++
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		var err error
		if resp, cancel, err = c.connect(ctx, watcher); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.cfg.Logger.Warn("rackhttp: reconnect failed", "watcher", watcher, "attempt", attempt, "err", err)
		}
	}
}

// read delivers resp's statuses to out until the stream ends, fails,
// stalls (no byte for StallAfter) or ctx ends. got reports whether the
// stream worked (bytes came and it did not end in a protocol error such
// as an oversized event), so that the backoff starts over.
func (c *Client) read(ctx context.Context, resp *http.Response, cancel context.CancelFunc, out chan rack.Status) (got bool, err error) {
	body := &stallReader{r: resp.Body, after: c.cfg.StallAfter}
	body.timer = time.AfterFunc(c.cfg.StallAfter, func() {
		body.stall()
		cancel() // unblocks the read below
	})
	defer func() {
		body.timer.Stop()
		cancel()
		resp.Body.Close()
		if body.stalled() {
			err = fmt.Errorf("no byte for %v: stream stalled", c.cfg.StallAfter)
		}
	}()
	sse := newSSEReader(body, c.cfg.MaxEventBytes)
	for {
		ev, err := sse.Next()
		got = got || body.got()
		if errors.Is(err, ErrEventTooLarge) {
			return false, err // every reconnect may meet the same event: back off
		}
		if err != nil {
			return got, err
		}
		if ev.Event != "status" {
			continue
		}
		st, err := decodeStatus(ev.Data)
		if err != nil {
			return false, err
		}
		if ctx.Err() != nil {
			return got, ctx.Err()
		}
		deliver(out, st)
	}
}

// deliver sends st without blocking: when out is full the oldest status
// is dropped, never the newest. Only one goroutine sends on out.
func deliver(out chan rack.Status, st rack.Status) {
	select {
	case out <- st:
		return
	default:
	}
	select {
	case <-out:
	default:
	}
	select {
	case out <- st:
	default:
	}
}

// stallReader re-arms timer at each byte read.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	after time.Duration

	mu      sync.Mutex
	n       int64
	isStall bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.mu.Lock()
		s.n += int64(n)
		if !s.isStall {
			s.timer.Reset(s.after)
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *stallReader) stall() {
	s.mu.Lock()
	s.isStall = true
	s.mu.Unlock()
}

func (s *stallReader) stalled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isStall
}

func (s *stallReader) got() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n > 0
}
