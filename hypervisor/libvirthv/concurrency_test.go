package libvirthv

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// 20 VMs of 1 GiB start at once on a 16 GiB host: the memory of starts
// under way is reserved, so exactly 16 start and 4 are refused with
// ErrNoCapacity, however the calls interleave.
func TestConcurrentStartsRespectMemory(t *testing.T) {
	dir := t.TempDir()
	h := openHost(t, "hostB.xml", dir, dir, dir)
	imgs := make([]imagestore.Image, 20)
	for i := range imgs {
		img := testImage(t, dir, fmt.Sprintf("vm%02d", i), "b")
		img.Definition = domainXML(img.Name, uuidFor(img.Name), 1024, 1, img.Disks...)
		imgs[i] = img
	}
	errs := make([]error, len(imgs))
	var wg sync.WaitGroup
	for i := range imgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.hv.Start(testCtx(t), imgs[i])
		}()
	}
	wg.Wait()
	started, refused := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			started++
		case errors.Is(err, hypervisor.ErrNoCapacity):
			refused++
		default:
			t.Errorf("Start(%s): %v", imgs[i].Name, err)
		}
	}
	if started != 16 || refused != 4 {
		t.Errorf("%d started, %d refused; want 16 and 4", started, refused)
	}
	free, err := h.hv.FreeCapacity(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if free.MemoryMiB != 0 {
		t.Errorf("free memory %d MiB after filling the host, want 0", free.MemoryMiB)
	}
	if h.hv.reserved != 0 {
		t.Errorf("%d MiB still reserved after every start returned", h.hv.reserved)
	}
}
