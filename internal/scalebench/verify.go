package scalebench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// twiceWatch samples every rack's hypervisors and remembers any VM seen
// running on two hosts at once.
type twiceWatch struct {
	mu    sync.Mutex
	twice map[string][]string
}

func watchTwice(ctx context.Context, rigs []*rackRig, every time.Duration) *twiceWatch {
	w := &twiceWatch{twice: map[string][]string{}}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, rr := range rigs {
				for vm, hosts := range rr.storage.RunningAll() {
					if len(hosts) > 1 {
						w.mu.Lock()
						w.twice[vm] = hosts
						w.mu.Unlock()
					}
				}
			}
		}
	}()
	return w
}

func (w *twiceWatch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for vm, hosts := range w.twice {
		out = append(out, fmt.Sprintf("%s on %v", vm, hosts))
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return fmt.Errorf("VMs seen running on two hosts at once: %v", out)
}

// verify checks the end state: every VM of a failed server started once,
// on another server, runs there only, and the store names that server
// its owner; every other VM runs once, on its owner.
func verify(ctx context.Context, rigs []*rackRig, lost map[string]time.Time, starts *startLog) error {
	var errs []error
	for _, rr := range rigs {
		imgs, err := rr.store.List(ctx)
		if err != nil {
			return fmt.Errorf("rack %d: listing the images: %w", rr.index+1, err)
		}
		running := rr.storage.RunningAll()
		for _, img := range imgs {
			hosts := running[img.Name]
			_, wasLost := lost[img.Name]
			s := starts.get(img.Name)
			switch {
			case len(hosts) != 1:
				errs = append(errs, fmt.Errorf("VM %s runs on %v (owner %s), want exactly one host", img.Name, hosts, img.Owner))
			case hosts[0] != img.Owner:
				errs = append(errs, fmt.Errorf("VM %s runs on %s but the store's owner is %s", img.Name, hosts[0], img.Owner))
			case wasLost && len(s) != 1:
				errs = append(errs, fmt.Errorf("VM %s of a failed server started %d times after the fault, want once", img.Name, len(s)))
			case wasLost && s[0].host != hosts[0]:
				errs = append(errs, fmt.Errorf("VM %s started on %s but runs on %s", img.Name, s[0].host, hosts[0]))
			case !wasLost && len(s) > 0:
				errs = append(errs, fmt.Errorf("VM %s of a healthy server was started on %s: a spurious takeover", img.Name, s[0].host))
			}
		}
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Errorf("... and %d more", len(errs)-10))
	}
	return errors.Join(errs...)
}
