package demosim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultCallTimeout bounds a client call whose context has no deadline.
const DefaultCallTimeout = 10 * time.Second

// maxSocketPath is the longest path a unix socket address holds on Linux.
const maxSocketPath = 107

// stage is how far a failed call got.
type stage uint8

const (
	// notSent: nothing reached the server (no connection was made).
	notSent stage = iota
	// lost: the request may have reached the server, but no complete
	// answer came back (connection dropped, deadline, server killed).
	lost
	// garbled: an answer came back that cannot be decoded.
	garbled
	// answered: the server answered; the error, if any, is its own.
	answered
)

// client makes calls on one simulator over the socket.
type client struct {
	what   string // "BMC blade-a", for errors
	base   string // URL up to the operation
	hc     *http.Client
	closed atomic.Bool
}

func newClient(socketPath, kind, what, name string) (*client, error) {
	switch {
	case socketPath == "":
		return nil, fmt.Errorf("%w: empty socket path", ErrInvalidArgument)
	case len(socketPath) > maxSocketPath:
		return nil, fmt.Errorf("%w: socket path %q is %d bytes, over the %d a unix socket address holds", ErrInvalidArgument, socketPath, len(socketPath), maxSocketPath)
	case name == "":
		return nil, fmt.Errorf("%w: empty %s name", ErrInvalidArgument, what)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &client{
		what: what + " " + name,
		base: "http://demosim/v1/" + kind + "/" + url.PathEscape(name) + "/",
		hc:   &http.Client{Transport: tr},
	}, nil
}

func (c *client) close() {
	c.closed.Store(true)
	c.hc.CloseIdleConnections()
}

// call sends req as operation op and decodes the result into res (nil:
// ignored). On failure it returns how far the call got.
func (c *client) call(ctx context.Context, op string, req, res any) (stage, error) {
	if c.closed.Load() {
		return notSent, errors.New("client closed")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return notSent, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return notSent, fmt.Errorf("%w: encoding the request: %v", ErrProtocol, err)
	}
	if len(body) > MaxRequestBytes {
		return notSent, fmt.Errorf("%w: request of %d bytes over the %d limit", ErrProtocol, len(body), MaxRequestBytes)
	}
	var connected atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+op, bytes.NewReader(body))
	if err != nil {
		return notSent, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	deadline, _ := ctx.Deadline()
	hreq.Header.Set(timeoutHeader, strconv.FormatInt(int64(max(time.Until(deadline), 1)), 10))
	resp, err := c.hc.Do(hreq)
	if err != nil {
		if connected.Load() {
			return lost, err
		}
		return notSent, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return lost, fmt.Errorf("reading the answer: %w", err)
	}
	if len(data) > MaxResponseBytes {
		return garbled, fmt.Errorf("%w: answer over %d bytes", ErrProtocol, MaxResponseBytes)
	}
	remote, err := decodeResponse(data, res)
	if err != nil {
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP status %d: %w", resp.StatusCode, err)
		}
		return garbled, err
	}
	return answered, remote
}
