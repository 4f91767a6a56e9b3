package etcdlease_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rackha/failover/lease/etcdlease"
	"github.com/rackha/failover/watchdog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// SaveWatchdog and LoadWatchdogs round trip, per watcher; a corrupt
// value is an error naming its key, and the rest still loads.
func TestJournal(t *testing.T) {
	prefix := newPrefix()
	s := newStore(t, testConfig(embedded.endpoint, prefix))
	raw := rawClient(t, embedded.endpoint)
	want := map[string]watchdog.State{
		"blade-a": {Running: true, Timeout: 30 * time.Second, Remaining: 12500 * time.Millisecond, Action: watchdog.ActionPowerDown},
		"blade-c": {Expired: true, Timeout: time.Second, Action: watchdog.ActionHardReset},
		"blade-d": {},
	}
	for server, st := range want {
		if err := s.SaveWatchdog(callCtx(t), "blade-b", server, st); err != nil {
			t.Fatalf("SaveWatchdog %s: %v", server, err)
		}
	}
	if err := s.SaveWatchdog(callCtx(t), "other", "blade-a", watchdog.State{Running: true, Timeout: time.Minute, Action: watchdog.ActionPowerCycle}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadWatchdogs(callCtx(t), "blade-b")
	if err != nil {
		t.Fatalf("LoadWatchdogs: %v", err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("LoadWatchdogs (-saved +loaded):\n%s", d)
	}
	// Saving again replaces.
	want["blade-a"] = watchdog.State{Running: true, Timeout: 10 * time.Second, Action: watchdog.ActionPowerCycle}
	if err := s.SaveWatchdog(callCtx(t), "blade-b", "blade-a", want["blade-a"]); err != nil {
		t.Fatal(err)
	}
	if got, err = s.LoadWatchdogs(callCtx(t), "blade-b"); err != nil || !cmp.Equal(want, got) {
		t.Fatalf("after saving again: %v, %v", got, err)
	}

	bad := prefix + "seen/blade-b/blade-c"
	if _, err := raw.Put(callCtx(t), bad, `{"running":true,"timeout_ms":1000,"action":"explode"}`); err != nil {
		t.Fatal(err)
	}
	badName := prefix + "seen/blade-b/x/y"
	if _, err := raw.Put(callCtx(t), badName, `{}`); err != nil {
		t.Fatal(err)
	}
	got, err = s.LoadWatchdogs(callCtx(t), "blade-b")
	if !errors.Is(err, etcdlease.ErrCorrupt) || !strings.Contains(err.Error(), `"`+bad+`"`) || !strings.Contains(err.Error(), `"`+badName+`"`) {
		t.Fatalf("LoadWatchdogs with corrupt values: err = %v, want ErrCorrupt naming %q and %q", err, bad, badName)
	}
	t.Logf("corrupt journal: %v", err)
	delete(want, "blade-c")
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("LoadWatchdogs beside the corrupt value (-want +got):\n%s", d)
	}

	for _, name := range []string{"", "a/b"} {
		if err := s.SaveWatchdog(callCtx(t), "blade-b", name, watchdog.State{}); !errors.Is(err, etcdlease.ErrInvalidName) {
			t.Errorf("SaveWatchdog for server %q: err = %v, want ErrInvalidName", name, err)
		}
		if _, err := s.LoadWatchdogs(callCtx(t), name); !errors.Is(err, etcdlease.ErrInvalidName) {
			t.Errorf("LoadWatchdogs of watcher %q: err = %v, want ErrInvalidName", name, err)
		}
	}
}

// Values the watchers cannot read: a lease value that does not decode
// still reports Held, its TTL from the lease; a declaration that does
// not decode reports Disarmed.
func TestWatchCorruptValues(t *testing.T) {
	prefix := newPrefix()
	raw := rawClient(t, embedded.endpoint)
	grant, err := raw.Grant(callCtx(t), 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Put(callCtx(t), prefix+"lease/blade-a", "garbage", clientv3.WithLease(grant.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Put(callCtx(t), prefix+"watchdog/blade-a", "maybe"); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, testConfig(embedded.endpoint, prefix, "blade-a"))
	ch, err := s.Watch(callCtx(t), "blade-b")
	if err != nil {
		t.Fatal(err)
	}
	l := <-ch
	if !l.Held || l.TTL != 7*time.Second || !l.Disarmed {
		t.Fatalf("report of corrupt values = %+v; want Held, TTL 7s from the lease, Disarmed", l)
	}
}
