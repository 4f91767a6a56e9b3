package demosim_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	failover "github.com/rackha/failover"
	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/internal/demosim"
)

// serveHandler serves h on a fresh socket until the test ends.
func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	path := socketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return path
}

// rig is one served BMC and hypervisor behind a handler that misbehaves
// as told, after or instead of the real server.
type rig struct {
	b    *simbmc.BMC
	h    *memhv.Hypervisor
	srv  *demosim.Server
	path string
}

func newRig(t *testing.T, wrap func(real http.Handler) http.Handler) *rig {
	t.Helper()
	r := &rig{b: newSimBMC(t, simbmc.DefaultConfig("blade-a")), h: newMemHV(t, memhv.DefaultConfig("blade-a"))}
	srv, err := demosim.NewServer(map[string]*simbmc.BMC{"blade-a": r.b}, map[string]*memhv.Hypervisor{"blade-a": r.h})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	r.path = serveHandler(t, wrap(srv))
	return r
}

// dropAfter carries the call out, then closes the connection without
// answering: the answer is lost.
func dropAfter(real http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		real.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestAnswerLost(t *testing.T) {
	r := newRig(t, dropAfter)
	b, h := bmcClient(t, r.path, "blade-a"), hvClient(t, r.path, "blade-a")

	err := b.SetPower(ctx(t), bmc.PowerActionOff)
	if !errors.Is(err, bmc.ErrIndeterminate) {
		t.Fatalf("SetPower(off) whose answer was lost: %v, want ErrIndeterminate", err)
	}
	if r.b.HostPower() != bmc.PowerOff {
		t.Fatal("the fence did not reach the simulator: the test proves nothing")
	}
	if _, err := b.PowerState(ctx(t)); !errors.Is(err, bmc.ErrUnreachable) {
		t.Errorf("PowerState whose answer was lost: %v, want ErrUnreachable", err)
	}
	if _, err := b.Readings(ctx(t)); !errors.Is(err, bmc.ErrUnreachable) {
		t.Errorf("Readings whose answer was lost: %v, want ErrUnreachable", err)
	}

	err = h.Start(ctx(t), image("vm1"))
	if !errors.Is(err, failover.ErrOutcomeUnknown) {
		t.Fatalf("Start whose answer was lost: %v, want ErrOutcomeUnknown", err)
	}
	if st, _ := r.h.State(ctx(t), "vm1"); st != hypervisor.StateRunning {
		t.Fatalf("the start did not reach the simulator (%v): the test proves nothing", st)
	}
	if _, err := h.List(ctx(t)); !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Errorf("List whose answer was lost: %v, want ErrUnreachable", err)
	}
}

func TestNoAnswerBeforeDeadline(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	r := newRig(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
	})
	b, h := bmcClient(t, r.path, "blade-a"), hvClient(t, r.path, "blade-a")
	short := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	err := b.SetPower(short(), bmc.PowerActionOff)
	if !errors.Is(err, bmc.ErrIndeterminate) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SetPower unanswered by its deadline: %v, want ErrIndeterminate and DeadlineExceeded", err)
	}
	if _, err := b.Health(short()); !errors.Is(err, bmc.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Health unanswered by its deadline: %v, want ErrUnreachable and DeadlineExceeded", err)
	}
	if err := b.Kick(short()); !errors.Is(err, bmc.ErrUnreachable) {
		t.Errorf("Kick unanswered by its deadline: %v, want ErrUnreachable", err)
	}
	if _, err := h.Checkpoint(short(), "vm1"); !errors.Is(err, failover.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Checkpoint unanswered by its deadline: %v, want ErrOutcomeUnknown and DeadlineExceeded", err)
	}
}

func TestServerGoneIsUnreachable(t *testing.T) {
	path := deadSocket(t)
	b, h := bmcClient(t, path, "blade-a"), hvClient(t, path, "blade-a")
	if err := b.SetPower(ctx(t), bmc.PowerActionOff); !errors.Is(err, bmc.ErrUnreachable) || errors.Is(err, bmc.ErrIndeterminate) {
		t.Errorf("SetPower to a server that is gone: %v, want ErrUnreachable (surely not sent), not ErrIndeterminate", err)
	}
	if err := h.Start(ctx(t), image("vm1")); !errors.Is(err, hypervisor.ErrUnreachable) || errors.Is(err, failover.ErrOutcomeUnknown) {
		t.Errorf("Start on a server that is gone: %v, want ErrUnreachable, not ErrOutcomeUnknown", err)
	}
}

func TestClosedClient(t *testing.T) {
	_, c, _ := servedBMC(t, simbmc.DefaultConfig("blade-a"))
	if _, err := c.PowerState(ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.PowerState(ctx(t)); !errors.Is(err, bmc.ErrUnreachable) {
		t.Fatalf("PowerState after Close: %v, want ErrUnreachable", err)
	}
}

// garbled answers are decoded as errors, never as values.
func TestGarbledAnswer(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":        "<html>",
		"unknown field":   `{"result":1,"extra":2}`,
		"trailing data":   `{"result":1} {}`,
		"no result":       `{}`,
		"wrong type":      `{"result":"on"}`,
		"power of 7":      `{"result":7}`,
		"oversized":       `{"result":"` + strings.Repeat("x", demosim.MaxResponseBytes) + `"}`,
		"empty":           ``,
		"error not a map": `{"error":"boom"}`,
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) })
			})
			b, h := bmcClient(t, r.path, "blade-a"), hvClient(t, r.path, "blade-a")
			_, err := b.PowerState(ctx(t))
			if !errors.Is(err, bmc.ErrMalformed) {
				t.Errorf("PowerState answered %.40q: %v, want ErrMalformed", body, err)
			}
			if err := b.SetPower(ctx(t), bmc.PowerActionOff); !errors.Is(err, bmc.ErrIndeterminate) {
				t.Errorf("SetPower answered %.40q: %v, want ErrIndeterminate", body, err)
			}
			if _, err := h.State(ctx(t), "vm1"); !errors.Is(err, demosim.ErrProtocol) {
				t.Errorf("State answered %.40q: %v, want ErrProtocol", body, err)
			}
			if err := h.Stop(ctx(t), "vm1"); !errors.Is(err, failover.ErrOutcomeUnknown) {
				t.Errorf("Stop answered %.40q: %v, want ErrOutcomeUnknown", body, err)
			}
		})
	}
}
