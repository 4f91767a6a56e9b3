package logsink

import (
	"strings"
	"sync"
	"testing"
)

// TestBufferConcurrent: writers on many goroutines and a reader at the
// same time (run under -race); every line written is there once.
func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if n, err := b.Write([]byte("line\n")); n != 5 || err != nil {
					t.Errorf("Write: %d, %v", n, err)
				}
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 800 || len(b.String()) != 800*5 {
		t.Fatalf("%d lines, %d bytes; want 800 lines", got, len(b.String()))
	}
}
