package libvirthv

import (
	"context"
	"errors"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
)

// A libvirt call that hangs (a peer vanishing mid-call) returns at the
// context's deadline with ErrUnreachable, and the VM's name stays locked
// until the call really ends, so no second call about it overlaps.
func TestCallOutlivesContext(t *testing.T) {
	dir := t.TempDir()
	h := openHost(t, "hostB.xml", dir, dir, dir)
	release := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := h.hv.withName(ctx, "vm1", "hang", func(*libvirt.Connect) error {
		<-release
		return nil
	})
	if !errors.Is(err, hypervisor.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung call: %v, want ErrUnreachable and DeadlineExceeded", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	if err := h.hv.Stop(short, "vm1"); !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Fatalf("Stop while the hung call holds vm1: %v, want ErrUnreachable", err)
	}
	close(release)
	if err := h.hv.Stop(testCtx(t), "vm1"); err != nil {
		t.Fatalf("Stop after the hung call ended: %v", err)
	}
}

// A connection error retires the connection; the next call reconnects.
// With the test driver a new connection starts again from the node file.
func TestReconnectAfterConnectionLost(t *testing.T) {
	dir := t.TempDir()
	h := openHost(t, "hostA.xml", dir, dir, dir)
	err := h.hv.conns.do(testCtx(t), "drop", nil, func(*libvirt.Connect) error {
		return libvirt.Error{Code: libvirt.ERR_RPC, Domain: libvirt.FROM_RPC, Message: "connection reset by peer"}
	})
	if !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Fatalf("lost connection: %v, want ErrUnreachable", err)
	}
	vms, err := h.hv.List(testCtx(t))
	if err != nil {
		t.Fatalf("List after reconnect: %v", err)
	}
	if len(vms) != 2 {
		t.Errorf("List after reconnect: %+v, want hostA's two VMs", vms)
	}
	if h.hv.conns.opens != 2 {
		t.Errorf("%d connections opened, want 2", h.hv.conns.opens)
	}
}

func TestClosedHypervisor(t *testing.T) {
	dir := t.TempDir()
	h := openHost(t, "hostB.xml", dir, dir, dir)
	h.hv.Close()
	if _, err := h.hv.List(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("List after Close: %v, want ErrClosed", err)
	}
}
