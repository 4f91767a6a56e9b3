package scalebench

import (
	"context"
	"sync"
	"time"

	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/imagestore"
)

// startLog records, once armed, every VM start a monitor's own
// hypervisor accepted: when, where, and how many times per VM.
type startLog struct {
	mu     sync.Mutex
	armed  bool
	starts map[string][]vmStart
}

type vmStart struct {
	host string
	at   time.Time
}

func newStartLog() *startLog { return &startLog{starts: map[string][]vmStart{}} }

// arm starts recording (starts before the fault are the set-up's).
func (l *startLog) arm() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = true
}

func (l *startLog) record(vm, host string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.armed {
		l.starts[vm] = append(l.starts[vm], vmStart{host: host, at: at})
	}
}

// get returns vm's recorded starts.
func (l *startLog) get(vm string) []vmStart {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]vmStart(nil), l.starts[vm]...)
}

// timedHypervisor is a monitor's own hypervisor that writes each
// accepted Start to a startLog, the instant Start returned: the backup
// runs from then on. It keeps FreeCapacity (the monitor places by it).
type timedHypervisor struct {
	hypervisor.Hypervisor
	capacity hypervisor.CapacityReporter
	host     string
	log      *startLog
}

var (
	_ hypervisor.Hypervisor       = (*timedHypervisor)(nil)
	_ hypervisor.CapacityReporter = (*timedHypervisor)(nil)
)

func (h *timedHypervisor) Start(ctx context.Context, img imagestore.Image) error {
	err := h.Hypervisor.Start(ctx, img)
	if err == nil {
		h.log.record(img.Name, h.host, time.Now())
	}
	return err
}

func (h *timedHypervisor) FreeCapacity(ctx context.Context) (hypervisor.Capacity, error) {
	return h.capacity.FreeCapacity(ctx)
}
