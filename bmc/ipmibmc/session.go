package ipmibmc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/rackha/failover/bmc"
)

// IPMI network functions and commands used by the adapter.
const (
	netFnChassis = types.NetFnChassisRequest
	netFnSensor  = types.NetFnSensorEventRequest
	netFnApp     = types.NetFnAppRequest
	netFnStorage = types.NetFnStorageRequest

	cmdChassisStatus  = 0x01
	cmdChassisControl = 0x02
	cmdResetWatchdog  = 0x22
	cmdSetWatchdog    = 0x24
	cmdGetWatchdog    = 0x25
	cmdSensorReading  = 0x2d
	cmdThresholds     = 0x27
	cmdSDRRepoInfo    = 0x20
	cmdReserveSDR     = 0x22
	cmdGetSDR         = 0x23
	cmdSELInfo        = 0x40
	cmdGetSELEntry    = 0x43
)

// CompletionError is a BMC's answer with a non-zero completion code: the
// BMC is reachable but refused or could not carry out the request.
type CompletionError struct {
	Command string
	Code    uint8
}

func (e *CompletionError) Error() string {
	return fmt.Sprintf("%s: BMC answered completion code %#02x (%s)", e.Command, e.Code, ccText(e.Code))
}

// Is makes 0xc1 (invalid command) and 0xd5 (not supported in present
// state) match bmc.ErrUnsupported.
func (e *CompletionError) Is(target error) bool {
	return target == bmc.ErrUnsupported && (e.Code == 0xc1 || e.Code == 0xd5)
}

func ccText(cc uint8) string {
	switch cc {
	case 0xc0:
		return "node busy"
	case 0xc1:
		return "invalid command"
	case 0xc3:
		return "timeout"
	case 0xc5:
		return "reservation cancelled"
	case 0xc7, 0xc8:
		return "request data length invalid"
	case 0xc9:
		return "parameter out of range"
	case 0xca:
		return "cannot return the requested number of bytes"
	case 0xcb:
		return "requested sensor, data or record not present"
	case 0xcc:
		return "invalid data field"
	case 0xcd:
		return "illegal command for this sensor or record type"
	case 0xd4:
		return "insufficient privilege"
	case 0xd5:
		return "not supported in present state"
	case 0x80:
		return "command-specific: not initialised"
	}
	return "see IPMI 2.0 table 5-2"
}

func ccOf(err error) (uint8, bool) {
	var ce *CompletionError
	if errors.As(err, &ce) {
		return ce.Code, true
	}
	return 0, false
}

// recvBuffer bounds one received packet: an RMCP+ header (16 bytes), an
// IPMI message of at most 255 bytes padded for AES (272) and the
// integrity trailer (under 30) fit with room to spare.
const recvBuffer = 1024

// session is one go-ipmi client, opened on demand and dropped when it
// stops answering. All exchanges are serialised by mu.
type session struct {
	cfg      Config // without its password
	password secret

	guard *guardDialer // lanplus only
	dial  dialer       // go-ipmi's UDP dialer: guard, or a test's wrapper of it

	mu     sync.Mutex
	c      *client.Client
	closed bool
	gen    uint64 // incremented on each new session; lets caches notice a BMC restart
}

func (s *session) newClient() (*client.Client, error) {
	if s.cfg.Interface == InterfaceOpen {
		c, err := client.NewOpenClient()
		if err != nil {
			return nil, err
		}
		return c.WithTimeout(s.cfg.Timeout).WithRetry(s.cfg.Retries), nil
	}
	c, err := client.NewClient(s.cfg.Host, s.cfg.Port, s.cfg.Username, s.password.reveal())
	if err != nil {
		return nil, err
	}
	// go-ipmi allocates a receive buffer of this size per exchange (4 KiB
	// by default); IPMI LAN packets are a few hundred bytes at most.
	c = c.WithTimeout(s.cfg.Timeout).WithRetry(s.cfg.Retries).WithBufferSize(recvBuffer).
		WithMaxPrivilegeLevel(types.PrivilegeLevelAdministrator)
	if s.cfg.Interface == InterfaceLAN {
		return c.WithInterface(client.InterfaceLan), nil
	}
	// guardDialer is the session's confidentiality and integrity layer
	// (see guard.go).
	return c.WithInterface(client.InterfaceLanplus).WithCipherSuiteID(types.CipherSuiteID(s.cfg.CipherSuite)).
		WithUDPProxy(s.dial), nil
}

// dialer is go-ipmi's UDP "proxy" dialer (golang.org/x/net/proxy.Dialer).
type dialer interface {
	Dial(network, addr string) (net.Conn, error)
}

// connect opens a session; mu is held.
func (s *session) connect(ctx context.Context) error {
	c, err := s.newClient()
	if err != nil {
		return fmt.Errorf("ipmibmc %s: %w: %w", s.cfg.target(), bmc.ErrUnreachable, s.scrub(err))
	}
	if s.guard != nil {
		s.guard.last.Store(nil)
	}
	if err := c.Connect(ctx); err != nil {
		// Release the socket of the failed attempt.
		cctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_ = c.Close(cctx)
		cancel()
		if s.guard != nil {
			if g := s.guard.last.Load(); g != nil {
				if gerr := g.setupError(); errors.Is(gerr, bmc.ErrInsecure) {
					return fmt.Errorf("ipmibmc %s: open session: %w", s.cfg.target(), gerr)
				} else if gerr != nil {
					return fmt.Errorf("ipmibmc %s: open session: authentication refused (check user and password): %w: %v", s.cfg.target(), bmc.ErrUnreachable, gerr)
				}
			}
		}
		what := "open session"
		msg := s.ctxOr(ctx, err).Error()
		if errors.Is(err, client.ErrRAKPAuthentication) || strings.Contains(msg, "RAKP authentication failed") ||
			strings.Contains(msg, "Unauthorized name") || strings.Contains(msg, "invalid name") {
			what = "open session: authentication refused (check user and password)"
		}
		// go-ipmi joins its attempts with newlines; keep one line.
		msg = strings.Join(strings.Fields(msg), " ")
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("ipmibmc %s: %s: %w: %w", s.cfg.target(), what, bmc.ErrUnreachable, cerr)
		}
		return fmt.Errorf("ipmibmc %s: %s: %w: %s", s.cfg.target(), what, bmc.ErrUnreachable, msg)
	}
	s.c = c
	s.gen++
	return nil
}

// drop closes the current session in the background (its BMC may be gone,
// and Close waits for an answer); mu is held.
func (s *session) drop() {
	c := s.c
	s.c = nil
	if c == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_ = c.Close(ctx)
	}()
}

// raw sends one request and returns the answer's data (after the
// completion code). A non-zero completion code gives *CompletionError; no
// answer gives an error wrapping bmc.ErrUnreachable and drops the session.
// When retry is set and a session that had worked before stops answering,
// raw opens a new one and sends once more (the BMC may have restarted);
// only idempotent requests may set retry.
func (s *session) raw(ctx context.Context, name string, netFn types.NetFn, cmd uint8, data []byte, retry bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("ipmibmc %s: %s: %w: adapter closed", s.cfg.target(), name, bmc.ErrUnreachable)
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("ipmibmc %s: %s: %w: %w", s.cfg.target(), name, bmc.ErrUnreachable, err)
		}
		fresh := false
		if s.c == nil {
			if err := s.connect(ctx); err != nil {
				return nil, err
			}
			fresh = true
		}
		res, err := s.c.RawCommand(ctx, netFn, cmd, data, name)
		if err == nil {
			return res.Response, nil
		}
		if re, ok := types.IsResponseError(err); ok && re.CompletionCode() != 0 {
			return nil, &CompletionError{Command: name, Code: uint8(re.CompletionCode())}
		}
		s.drop()
		if retry && !fresh && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return nil, fmt.Errorf("ipmibmc %s: %s: %w: %w", s.cfg.target(), name, bmc.ErrUnreachable, s.ctxOr(ctx, err))
	}
}

// ctxOr prefers the context's error, which says why more plainly.
func (s *session) ctxOr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return s.scrub(err)
}

// scrub keeps the password out of an error from the library, should one
// ever quote it.
func (s *session) scrub(err error) error {
	if err == nil || s.password.reveal() == "" || !strings.Contains(err.Error(), s.password.reveal()) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), s.password.reveal(), "REDACTED"))
}

// generation returns the session counter; it changes when a new session
// is opened.
func (s *session) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// close ends the session and refuses later calls.
func (s *session) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	c := s.c
	s.c = nil
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		return fmt.Errorf("ipmibmc %s: close session: %w", s.cfg.target(), s.scrub(err))
	}
	return nil
}

// Format prints the session's target only: fmt, for bad verbs, follows
// pointers into go-ipmi's client, which holds the password.
func (s *session) Format(f fmt.State, verb rune) {
	fmt.Fprint(f, "ipmibmc.session("+s.cfg.target()+")")
}
