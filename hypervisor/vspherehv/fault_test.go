package vspherehv

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vmware/govmomi/simulator"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

func slowSim(t *testing.T, method string, ms int) *sim {
	return newSimWith(t, func(m *simulator.Model) {
		m.DelayConfig.MethodDelay = map[string]int{method: ms}
	})
}

// A vCenter that does not answer in time: the error names the step and
// wraps both ErrUnreachable and the context's error.
func TestStartTimesOut(t *testing.T) {
	s := slowSim(t, "CreateVM_Task", 3000)
	s.sizeHost(t, hostB, 64<<10, 32)
	b := s.hv(t, hostB)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := b.Start(ctx, suiteImage("slow"))
	if !errors.Is(err, hypervisor.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `create "slow"`) {
		t.Fatalf("Start against a slow vCenter = %v; want ErrUnreachable and DeadlineExceeded naming the create", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Start took %v past a 300ms deadline", took)
	}
}

// vCenter vanishes in the middle of a call.
func TestServerVanishesMidCall(t *testing.T) {
	s := slowSim(t, "CreateVM_Task", 1500)
	s.sizeHost(t, hostB, 64<<10, 32)
	b := s.hv(t, hostB)
	go func() {
		time.Sleep(300 * time.Millisecond)
		s.srv.CloseClientConnections()
	}()
	err := b.Start(ctxT(t), suiteImage("cut"))
	if !errors.Is(err, hypervisor.ErrUnreachable) {
		t.Fatalf("Start cut mid-call = %v; want ErrUnreachable", err)
	}
}

// The create form attaches existing disks from the shared datastore.
func TestStartCreateFormWithDisks(t *testing.T) {
	s := newSim(t)
	s.sizeHost(t, hostB, 64<<10, 32)
	b := s.hv(t, hostB)
	disk := "[LocalDS_0] shared/data.vmdk"
	s.createDisk(t, disk, 1<<20)
	img := imagestore.Image{
		Name:       "withdisk",
		Definition: []byte(`{"guestId":"otherGuest64","datastore":"LocalDS_0"}`),
		Disks:      []string{disk}, Owner: hostB, MemoryMiB: 256, CPUs: 1,
	}
	missing := img.Clone()
	missing.Name, missing.Disks = "nodisk", []string{"[LocalDS_0] shared/none.vmdk"}
	if err := b.Start(ctxT(t), missing); !errors.Is(err, hypervisor.ErrBadImage) {
		t.Errorf("Start with a missing disk = %v; want ErrBadImage", err)
	}
	if err := b.Start(ctxT(t), img); err != nil {
		t.Fatalf("Start with disks: %v", err)
	}
	got, err := b.Capture(ctxT(t), "withdisk")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(img.Disks, got.Disks); diff != "" {
		t.Errorf("disks of the created VM (-want +got):\n%s", diff)
	}
}
