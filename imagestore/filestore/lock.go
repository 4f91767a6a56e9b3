package filestore

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// dirLock is an exclusive flock on the directory's lock file, shared with
// every other Store on the directory, in this process or another. flock
// locks belong to the open file, so each Store opens its own.
type dirLock struct {
	f *os.File
}

func openLock(path string) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("filestore: open lock file: %w", err)
	}
	return &dirLock{f: f}, nil
}

// lock takes the lock, polling so that ctx can end the wait.
func (l *dirLock) lock(ctx context.Context) error {
	wait := 100 * time.Microsecond
	for {
		err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			return fmt.Errorf("filestore: lock %s: %w", l.f.Name(), err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("filestore: waiting for lock %s: %w", l.f.Name(), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

func (l *dirLock) unlock() error {
	return syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
}

func (l *dirLock) close() error { return l.f.Close() }
