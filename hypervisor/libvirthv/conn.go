package libvirthv

import (
	"context"
	"fmt"
	"sync"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/rackha/failover/hypervisor"
)

// connCell is one libvirt connection with the calls using it counted, so
// a dropped connection is closed only once no call uses it any more.
type connCell struct {
	c       *libvirt.Connect
	refs    int
	retired bool
}

// conns hands out the current connection and replaces a dead one.
type conns struct {
	uri       string
	keepAlive time.Duration
	kaCount   uint

	mu     sync.Mutex
	cur    *connCell
	closed bool
	opens  int // connections opened, for tests
}

// acquire returns a live connection, opening one when there is none or
// the current one is dead. release it after use.
func (p *conns) acquire() (*connCell, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("libvirthv: %w", ErrClosed)
	}
	if p.cur != nil {
		if alive, err := p.cur.c.IsAlive(); err == nil && alive {
			p.cur.refs++
			return p.cur, nil
		}
		p.retireLocked(p.cur)
	}
	useKA := p.keepAlive > 0 && remote(p.uri)
	if useKA {
		startEventLoop()
	}
	c, err := libvirt.NewConnect(p.uri)
	if err != nil {
		return nil, fmt.Errorf("libvirthv: connect to %s: %w: %w", redactURI(p.uri), hypervisor.ErrUnreachable, err)
	}
	if useKA {
		secs := int((p.keepAlive + time.Second - 1) / time.Second)
		if err := c.SetKeepAlive(secs, p.kaCount); err != nil && !isNoSupport(err) {
			c.Close() //nolint:errcheck // the connection is dropped either way
			return nil, fmt.Errorf("libvirthv: keep-alive on %s: %w", redactURI(p.uri), err)
		}
	}
	p.opens++
	p.cur = &connCell{c: c, refs: 1}
	return p.cur, nil
}

func (p *conns) release(cc *connCell) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cc.refs--
	if cc.retired && cc.refs == 0 {
		cc.c.Close() //nolint:errcheck // nothing to do about a failed close of a dead connection
	}
}

// retire marks cc dead after an error that means the connection is gone.
func (p *conns) retire(cc *connCell) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retireLocked(cc)
}

func (p *conns) retireLocked(cc *connCell) {
	if cc.retired {
		return
	}
	cc.retired = true
	if p.cur == cc {
		p.cur = nil
	}
	if cc.refs == 0 {
		cc.c.Close() //nolint:errcheck // nothing to do about a failed close of a dead connection
	}
}

// close closes the current connection once its calls are done.
func (p *conns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.cur != nil {
		p.retireLocked(p.cur)
	}
}

var eventLoop sync.Once

// startEventLoop runs libvirt's default event loop, which keep-alive
// needs, once per process.
func startEventLoop() {
	eventLoop.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			return // keep-alive then fails at SetKeepAlive, which says so
		}
		go func() {
			for {
				if err := libvirt.EventRunDefaultImpl(); err != nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	})
}

// do runs fn with a connection in its own goroutine and waits for it or
// for ctx. A connection error retires the connection, so the next call
// reconnects. When ctx ends first, fn goes on in the background and done
// runs when it finishes; otherwise done runs before do returns.
func (p *conns) do(ctx context.Context, what string, done func(), fn func(c *libvirt.Connect) error) error {
	if err := ctx.Err(); err != nil {
		if done != nil {
			done()
		}
		return fmt.Errorf("libvirthv: %s: %w: %w", what, hypervisor.ErrUnreachable, err)
	}
	res := make(chan error, 1)
	go func() {
		if done != nil {
			defer done()
		}
		cc, err := p.acquire()
		if err != nil {
			res <- err
			return
		}
		defer p.release(cc)
		err = fn(cc.c)
		if err != nil && isConnLost(err) {
			p.retire(cc)
			err = fmt.Errorf("libvirthv: %s: connection lost: %w: %w", what, hypervisor.ErrUnreachable, err)
		}
		res <- err
	}()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return fmt.Errorf("libvirthv: %s: no answer before the context ended (the call goes on in the background): %w: %w", what, hypervisor.ErrUnreachable, ctx.Err())
	}
}
