package vspherehv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/rackha/failover/hypervisor"
)

func TestTLSVerifiedByDefault(t *testing.T) {
	s := newSim(t)
	c := s.config(hostA)
	c.RootCAs = nil // the simulator's certificate is self-signed
	_, err := New(ctxT(t), c)
	if !errors.Is(err, hypervisor.ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("New with an untrusted certificate = %v; want ErrUnreachable about the certificate", err)
	}
}

func TestThumbprintPinning(t *testing.T) {
	s := newSim(t)
	cert := s.srv.Certificate()
	for _, tc := range []struct {
		name, tp string
		ok       bool
	}{
		{"sha1", soap.ThumbprintSHA1(cert), true},
		{"sha256", soap.ThumbprintSHA256(cert), true},
		{"sha256 lower case", strings.ToLower(soap.ThumbprintSHA256(cert)), true},
		{"wrong", strings.Repeat("AB:", 19) + "AB", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.config(hostA)
			c.RootCAs = nil
			c.Thumbprint = tc.tp
			h, err := New(ctxT(t), c)
			if tc.ok {
				if err != nil {
					t.Fatalf("New pinned to the right thumbprint: %v", err)
				}
				defer h.Close()
				if _, err := h.List(ctxT(t)); err != nil {
					t.Errorf("List: %v", err)
				}
				return
			}
			if !errors.Is(err, hypervisor.ErrUnreachable) || !strings.Contains(err.Error(), "thumbprint") {
				t.Fatalf("New pinned to a wrong thumbprint = %v; want ErrUnreachable about the thumbprint", err)
			}
		})
	}
}

func TestBadLoginNeverShowsPassword(t *testing.T) {
	s := newSim(t)
	var logs bytes.Buffer
	c := s.config(hostA)
	c.Password = "wrong-" + simPass
	c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, err := New(ctxT(t), c)
	if !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Fatalf("New with a wrong password = %v; want ErrUnreachable", err)
	}
	for _, out := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err), logs.String()} {
		if strings.Contains(out, simPass) {
			t.Errorf("password leaked: %q", out)
		}
	}
	if !strings.Contains(err.Error(), simUser) {
		t.Errorf("error %q should name the user", err)
	}
}

func TestUnknownHost(t *testing.T) {
	s := newSim(t)
	_, err := New(ctxT(t), s.config("no-such-host"))
	if !errors.Is(err, hypervisor.ErrNotFound) || !strings.Contains(err.Error(), "no-such-host") {
		t.Fatalf("New for an unknown host = %v; want ErrNotFound naming it", err)
	}
}

func TestUnreachableURL(t *testing.T) {
	s := newSim(t)
	c := s.config(hostA)
	s.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := New(ctx, c); !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Fatalf("New against a closed server = %v; want ErrUnreachable", err)
	}
}

// vCenter drops the session (timeout, restart, an admin); the next call
// logs in again by itself.
func TestReloginAfterSessionLoss(t *testing.T) {
	s := newSim(t)
	h := s.hv(t, hostA)
	s.createVM(t, hostA, "vm00", 256, 1)
	us, err := userSession(ctxT(t), h.vc)
	if err != nil || us == nil {
		t.Fatalf("UserSession = %v, %v", us, err)
	}
	if err := session.NewManager(s.admin.Client).TerminateSession(ctxT(t), []string{us.Key}); err != nil {
		t.Fatalf("TerminateSession: %v", err)
	}
	vms, err := h.List(ctxT(t))
	if err != nil || len(vms) != 1 {
		t.Fatalf("List after re-login = %v, %v", vms, err)
	}
	if _, err := h.List(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := h.rl.count(); n != 1 {
		t.Errorf("re-logins = %d; want 1", n)
	}
}

// The keep-alive goroutine re-logs in when the session was dropped while
// the hypervisor sat idle.
func TestKeepAliveRelogsIn(t *testing.T) {
	s := newSim(t)
	c := s.config(hostA)
	c.KeepAlive = 20 * time.Millisecond
	h, err := New(ctxT(t), c)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	us, err := userSession(ctxT(t), h.vc)
	if err != nil {
		t.Fatal(err)
	}
	if err := session.NewManager(s.admin.Client).TerminateSession(ctxT(t), []string{us.Key}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.rl.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h.rl.count() == 0 {
		t.Fatal("keep-alive did not log in again within 5 s")
	}
}

func TestCloseTwice(t *testing.T) {
	s := newSim(t)
	h, err := New(ctxT(t), s.config(hostA))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
