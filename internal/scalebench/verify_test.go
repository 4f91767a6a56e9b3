package scalebench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/imagestore"
	"github.com/rackha/failover/imagestore/memstore"
)

// verifyRig is a rack of three servers with one VM each, every VM
// running on its owner, in memory; s1 is the failed one.
func verifyRig(t *testing.T) (*rackRig, map[string]time.Time, *startLog) {
	t.Helper()
	ctx := context.Background()
	rr := &rackRig{storage: memhv.NewStorage(), hvs: map[string]*memhv.Hypervisor{}, store: memstore.New()}
	var imgs []imagestore.Image
	for _, s := range []string{"s1", "s2", "s3"} {
		hc := memhv.DefaultConfig(s)
		hc.Storage = rr.storage
		hv, err := memhv.New(hc)
		if err != nil {
			t.Fatal(err)
		}
		rr.hvs[s] = hv
		imgs = append(imgs, imagestore.Image{Name: s + "-vm1", Definition: []byte("{}"), Owner: s, MemoryMiB: vmMiB, CPUs: vmCPUs})
	}
	if err := putAndStart(ctx, rr.store, rr.hvs, imgs); err != nil {
		t.Fatal(err)
	}
	starts := newStartLog()
	starts.arm()
	return rr, map[string]time.Time{"s1-vm1": time.Now()}, starts
}

// takeOver moves vm from its owner to host as a watcher would: claim,
// stop on the failed host, start on host, record the start.
func takeOver(t *testing.T, rr *rackRig, starts *startLog, vm, host string) {
	t.Helper()
	ctx := context.Background()
	img, err := rr.store.Get(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	rr.hvs[img.Owner].PowerOff()
	claimed, err := imagestore.Claim(ctx, rr.store, img, host)
	if err != nil {
		t.Fatal(err)
	}
	if err := rr.hvs[host].Start(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	starts.record(vm, host, time.Now())
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	t.Run("takeover done", func(t *testing.T) {
		rr, lost, starts := verifyRig(t)
		takeOver(t, rr, starts, "s1-vm1", "s2")
		if err := verify(ctx, []*rackRig{rr}, lost, starts); err != nil {
			t.Fatal(err)
		}
	})
	for _, c := range []struct {
		name, want string
		mutate     func(t *testing.T, rr *rackRig, starts *startLog)
	}{
		{"not started", "runs on []", func(t *testing.T, rr *rackRig, starts *startLog) {
			rr.hvs["s1"].PowerOff()
		}},
		{"started twice", "started 2 times", func(t *testing.T, rr *rackRig, starts *startLog) {
			takeOver(t, rr, starts, "s1-vm1", "s2")
			starts.record("s1-vm1", "s2", time.Now())
		}},
		{"running on two hosts", "runs on [s2 s3]", func(t *testing.T, rr *rackRig, starts *startLog) {
			takeOver(t, rr, starts, "s1-vm1", "s2")
			img, _ := rr.store.Get(context.Background(), "s1-vm1")
			if err := rr.hvs["s3"].Start(context.Background(), img); err != nil {
				t.Fatal(err)
			}
		}},
		{"owner not moved", "store's owner is s1", func(t *testing.T, rr *rackRig, starts *startLog) {
			rr.hvs["s1"].PowerOff()
			img, _ := rr.store.Get(context.Background(), "s1-vm1")
			if err := rr.hvs["s2"].Start(context.Background(), img); err != nil {
				t.Fatal(err)
			}
			starts.record("s1-vm1", "s2", time.Now())
		}},
		{"spurious takeover", "healthy server was started", func(t *testing.T, rr *rackRig, starts *startLog) {
			takeOver(t, rr, starts, "s1-vm1", "s2")
			takeOver(t, rr, starts, "s3-vm1", "s2")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rr, lost, starts := verifyRig(t)
			c.mutate(t, rr, starts)
			err := verify(ctx, []*rackRig{rr}, lost, starts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("verify = %v, want an error saying %q", err, c.want)
			}
		})
	}
}

func TestTwiceWatch(t *testing.T) {
	rr, _, _ := verifyRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := watchTwice(ctx, []*rackRig{rr}, 5*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	if err := w.err(); err != nil {
		t.Fatalf("nothing ran twice, yet: %v", err)
	}
	img, _ := rr.store.Get(ctx, "s1-vm1")
	if err := rr.hvs["s2"].Start(ctx, img); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, 5*time.Second, func() error {
		if w.err() == nil {
			return context.DeadlineExceeded
		}
		return nil
	}); err != nil {
		t.Fatal("a VM running on s1 and s2 at once was not seen")
	}
	if !strings.Contains(w.err().Error(), "s1-vm1 on [s1 s2]") {
		t.Errorf("twice = %v", w.err())
	}
}
