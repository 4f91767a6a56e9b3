package demosim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor/memhv"
)

// maxCallTimeout bounds the deadline a client may ask for; a longer one
// is shortened to it.
const maxCallTimeout = time.Minute

// Server serves simulated BMCs and hypervisors. It is an http.Handler;
// Serve runs it on a listener. Create it with NewServer.
type Server struct {
	mux *http.ServeMux
}

// NewServer returns a Server for bmcs and hvs, keyed by server name (the
// maps are copied: the set of servers is fixed). A nil simulator or an
// empty name is refused.
func NewServer(bmcs map[string]*simbmc.BMC, hvs map[string]*memhv.Hypervisor) (*Server, error) {
	bs := make(map[string]*simbmc.BMC, len(bmcs))
	for name, b := range bmcs {
		if name == "" || b == nil {
			return nil, fmt.Errorf("%w: BMC %q: empty name or nil simulator", ErrInvalidArgument, name)
		}
		bs[name] = b
	}
	hs := make(map[string]*memhv.Hypervisor, len(hvs))
	for name, h := range hvs {
		if name == "" || h == nil {
			return nil, fmt.Errorf("%w: hypervisor %q: empty name or nil simulator", ErrInvalidArgument, name)
		}
		hs[name] = h
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/bmc/{name}/{op}", handler("BMC", bs, bmcOps))
	mux.Handle("POST /v1/inband/{name}/{op}", handler("BMC", bs, inBandOps))
	mux.Handle("POST /v1/hv/{name}/{op}", handler("hypervisor", hs, hvOps))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w: no operation %s %s", ErrProtocol, r.Method, r.URL.Path))
	})
	return &Server{mux: mux}, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The mux would redirect a path that is not clean, with no JSON.
	if p := r.URL.Path; p == "" || path.Clean(p) != p {
		writeError(w, http.StatusNotFound, fmt.Errorf("%w: no operation %s %q", ErrProtocol, r.Method, p))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Serve answers on ln until ctx ends, then stops accepting, lets calls
// in flight finish (at most 5 s) and closes ln. It returns nil after ctx
// ends, or the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute, // simulators answer at once: these
		WriteTimeout:      time.Minute, // only bound a client that stalls
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("demosim: serve: %w", err)
	case <-ctx.Done():
	}
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(c); err != nil {
		srv.Close()
	}
	<-done
	return nil
}

// Serve is NewServer then Server.Serve.
func Serve(ctx context.Context, ln net.Listener, bmcs map[string]*simbmc.BMC, hvs map[string]*memhv.Hypervisor) error {
	s, err := NewServer(bmcs, hvs)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// op carries out one operation on a simulator; body is the request's
// JSON. A malformed body wraps ErrProtocol.
type op[T any] func(ctx context.Context, target T, body []byte) (any, error)

func handler[T any](what string, targets map[string]T, ops map[string]op[T]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, opName := r.PathValue("name"), r.PathValue("op")
		f, ok := ops[opName]
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Errorf("%w: no %s operation %q", ErrProtocol, what, opName))
			return
		}
		target, ok := targets[name]
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Errorf("%w: no simulated %s named %q", ErrUnknownHost, what, name))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("%w: request body over %d bytes", ErrProtocol, MaxRequestBytes))
				return
			}
			writeError(w, http.StatusBadRequest, fmt.Errorf("%w: reading request body: %v", ErrProtocol, err))
			return
		}
		ctx, cancel, err := callContext(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		defer cancel()
		res, err := f(ctx, target, body)
		if err != nil {
			status := http.StatusOK // the call ran and failed: not a protocol error
			if errors.Is(err, ErrProtocol) {
				status = http.StatusBadRequest
				err = fmt.Errorf("%s %q, operation %s: %w", what, name, opName, err)
			}
			writeError(w, status, err)
			return
		}
		raw, err := json.Marshal(res)
		if err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Errorf("%w: %s %s %s: cannot encode the result: %v", ErrProtocol, what, name, opName, err))
			return
		}
		writeJSON(w, http.StatusOK, response{Result: raw})
	})
}

// callContext is the request's context, ended also at the client's
// deadline when it sent one.
func callContext(r *http.Request) (context.Context, context.CancelFunc, error) {
	v := r.Header.Get(timeoutHeader)
	if v == "" {
		ctx, cancel := context.WithCancel(r.Context())
		return ctx, cancel, nil
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ns <= 0 {
		return nil, nil, fmt.Errorf("%w: header %s %q: want a positive number of nanoseconds", ErrProtocol, timeoutHeader, v)
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(time.Duration(ns), maxCallTimeout))
	return ctx, cancel, nil
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, response{Error: encodeError(err)})
}

func writeJSON(w http.ResponseWriter, status int, r response) {
	body, err := json.Marshal(r)
	if err != nil { // only strings and raw JSON already encoded: cannot happen
		status, body = http.StatusInternalServerError, []byte(`{"error":{"kinds":["demosim.protocol"],"message":"demosim: cannot encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
