package failovertest

import (
	"container/heap"
	"time"
)

// event is one thing that happens at a simulated moment.
type event struct {
	at  time.Time
	key uint64 // drawn from the seed: orders events of the same moment
	seq uint64
	fn  func()
}

// queue is the simulation's timeline: events in time order, ties broken
// by a seeded key.
type queue []*event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	if q[i].key != q[j].key {
		return q[i].key < q[j].key
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// at schedules fn at t (not before now).
func (r *Rack) at(t time.Time, fn func()) {
	if t.Before(r.Now()) {
		t = r.Now()
	}
	r.seq++
	heap.Push(&r.q, &event{at: t, key: r.rng.Uint64(), seq: r.seq, fn: fn})
}

// after schedules fn d from now.
func (r *Rack) after(d time.Duration, fn func()) { r.at(r.Now().Add(d), fn) }

// runUntil runs every event due by t, moving the clock to each.
func (r *Rack) runUntil(t time.Time) {
	for r.q.Len() > 0 && !r.q[0].at.After(t) {
		e := heap.Pop(&r.q).(*event)
		r.Clock.Set(e.at)
		e.fn()
	}
	r.Clock.Set(t)
}
