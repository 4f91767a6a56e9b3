package demosim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rackha/failover/bmc"
)

func TestEverySentinelRoundTrips(t *testing.T) {
	for _, s := range sentinels {
		err := (&wireError{Kinds: encodeError(fmt.Errorf("op: %w", s.err)).Kinds, Message: "m"}).decode()
		if !errors.Is(err, s.err) {
			t.Errorf("%s: decoded %v does not wrap %v", s.name, err, s.err)
		}
		for _, o := range sentinels {
			if o.err != s.err && errors.Is(err, o.err) {
				t.Errorf("%s: decoded error also wraps %s", s.name, o.name)
			}
		}
	}
	both := encodeError(fmt.Errorf("fence: %w: %w", bmc.ErrIndeterminate, context.DeadlineExceeded)).decode()
	if !errors.Is(both, bmc.ErrIndeterminate) || !errors.Is(both, context.DeadlineExceeded) || both.Error() != "fence: "+bmc.ErrIndeterminate.Error()+": "+context.DeadlineExceeded.Error() {
		t.Errorf("an error wrapping two sentinels decoded as %q", both)
	}
}

func TestUnknownErrorKind(t *testing.T) {
	err := (&wireError{Kinds: []string{"bmc.unreachable", "bmc.on-fire"}, Message: "boom"}).decode()
	if !errors.Is(err, bmc.ErrUnreachable) || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "bmc.on-fire") {
		t.Fatalf("decoded %v: want ErrUnreachable kept, ErrProtocol added and the unknown kind named", err)
	}
	if err := (&wireError{}).decode(); err.Error() == "" {
		t.Fatal("an error without a message decodes to an empty message")
	}
}

// Names are protocol: each is unique.
func TestSentinelNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range sentinels {
		if seen[s.name] {
			t.Errorf("sentinel name %q used twice", s.name)
		}
		seen[s.name] = true
	}
}
