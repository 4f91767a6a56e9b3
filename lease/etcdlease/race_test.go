package etcdlease_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover"
	"github.com/rackha/failover/internal/etcdrig"
)

// A keeper taking its lease and a watcher's Takeover at once, many
// times: exactly one wins each time. The keeper wins when Takeover says
// ErrLeaseHeld (and it then holds its lease, with no takeover recorded);
// the watcher wins when Takeover is nil (and the keeper then finds the
// takeover, never holds, and no lease key exists).
func TestKeeperTakeoverRace(t *testing.T) {
	t.Parallel()
	t.Run("Embedded", func(t *testing.T) {
		t.Parallel()
		race(t, embedded.endpoint, embeddedTTL, 40)
	})
	t.Run("External", func(t *testing.T) {
		t.Parallel()
		race(t, etcdrig.StartExternal(t).Endpoint, time.Second, 40)
	})
}

func race(t *testing.T, endpoint string, ttl time.Duration, rounds int) {
	prefix := newPrefix()
	cfg := testConfig(endpoint, prefix)
	cfg.TTL = ttl
	hs := newStore(t, cfg)
	ws := newStore(t, cfg)
	raw := rawClient(t, endpoint)
	wins := map[string]int{}
	for i := range rounds {
		server := fmt.Sprintf("blade-%d", i)
		k := hs.Keeper(server)
		ctx, cancel := context.WithCancel(context.Background())
		start := make(chan struct{})
		runDone := make(chan error, 1)
		takeover := make(chan error, 1)
		// The keeper needs a grant before its transaction: give the
		// watcher a random head start of 0 to 4 ms the other way.
		jitter := time.Duration(rand.IntN(4000)) * time.Microsecond
		go func() { <-start; runDone <- k.Run(ctx) }()
		go func() {
			<-start
			time.Sleep(jitter)
			takeover <- ws.Takeover(callCtx(t), server, "watcher")
		}()
		close(start)
		err := <-takeover
		switch {
		case err == nil:
			wins["watcher"]++
			waitUntil(t, 3*time.Second, server+"'s keeper finds the takeover", func() bool {
				ok, why := k.Alive()
				return !ok && strings.Contains(why, "taken over")
			})
			select {
			case <-k.Held():
				t.Fatalf("round %d: both won: Takeover nil and the keeper held its lease", i)
			default:
			}
			if _, ok := value(t, raw, prefix+"lease/"+server); ok {
				t.Fatalf("round %d: Takeover nil, yet the lease key exists", i)
			}
		case errors.Is(err, failover.ErrLeaseHeld):
			wins["keeper"]++
			waitHeld(t, k, 3*time.Second)
			if _, ok := value(t, raw, prefix+"takeover/"+server); ok {
				t.Fatalf("round %d: both won: the keeper holds and a takeover is recorded", i)
			}
		default:
			t.Fatalf("round %d: Takeover: %v", i, err)
		}
		cancel()
		if err := <-runDone; err != nil {
			t.Fatalf("round %d: Run: %v", i, err)
		}
	}
	t.Logf("%d rounds: keeper won %d, watcher won %d", rounds, wins["keeper"], wins["watcher"])
	if wins["keeper"] == 0 || wins["watcher"] == 0 {
		t.Logf("one side won every round: the race was not close this run")
	}
}
