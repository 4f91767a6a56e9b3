package libvirthv

import (
	"context"
	"sync"
)

// nameLocks serializes calls about one VM name; waiting honours ctx.
type nameLocks struct {
	mu sync.Mutex
	m  map[string]*nameLock
}

type nameLock struct {
	ch   chan struct{}
	refs int
}

// lock takes name's lock, or returns ctx.Err(). The returned func
// releases it exactly once.
func (l *nameLocks) lock(ctx context.Context, name string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*nameLock{}
	}
	nl := l.m[name]
	if nl == nil {
		nl = &nameLock{ch: make(chan struct{}, 1)}
		l.m[name] = nl
	}
	nl.refs++
	l.mu.Unlock()

	select {
	case nl.ch <- struct{}{}:
		var once sync.Once
		return func() {
			once.Do(func() {
				<-nl.ch
				l.drop(name, nl)
			})
		}, nil
	case <-ctx.Done():
		l.drop(name, nl)
		return nil, ctx.Err()
	}
}

func (l *nameLocks) drop(name string, nl *nameLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	nl.refs--
	if nl.refs == 0 {
		delete(l.m, name)
	}
}
