package rack

import (
	"encoding/json"
	"io"
	"sync"
)

// Journal is one server's recent history of statuses, oldest first,
// bounded to a fixed number of entries: the patent's "debug library",
// read by the monitor and exported for post-mortems. Safe for concurrent
// use.
type Journal struct {
	mu   sync.Mutex
	buf  []Status
	next int
	full bool
}

// NewJournal returns a journal that keeps the last size statuses.
func NewJournal(size int) *Journal {
	if size < 1 {
		size = 1
	}
	return &Journal{buf: make([]Status, size)}
}

// Append records s, dropping the oldest entry when full.
func (j *Journal) Append(s Status) {
	j.mu.Lock()
	j.buf[j.next] = s
	j.next++
	if j.next == len(j.buf) {
		j.next, j.full = 0, true
	}
	j.mu.Unlock()
}

// Len returns how many statuses are kept.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.full {
		return len(j.buf)
	}
	return j.next
}

// Entries returns a copy of the kept statuses, oldest first.
func (j *Journal) Entries() []Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.full {
		return append([]Status(nil), j.buf[:j.next]...)
	}
	out := make([]Status, 0, len(j.buf))
	out = append(out, j.buf[j.next:]...)
	return append(out, j.buf[:j.next]...)
}

// Last returns the newest status, if any.
func (j *Journal) Last() (Status, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.full && j.next == 0 {
		return Status{}, false
	}
	i := j.next - 1
	if i < 0 {
		i = len(j.buf) - 1
	}
	return j.buf[i], true
}

// WriteJSON writes the kept statuses to w, one JSON object per line,
// oldest first.
func (j *Journal) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, s := range j.Entries() {
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}
