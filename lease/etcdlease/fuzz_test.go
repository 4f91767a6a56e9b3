package etcdlease

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/watchdog"
)

// refusal checks a decoder's error wraps ErrCorrupt and names the key.
func refusal(t *testing.T, err error, key string) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `"`+key+`"`) {
		t.Fatalf("refusal %v does not wrap ErrCorrupt naming %q", err, key)
	}
}

// FuzzDecodeLease: decodeLease never panics; what it accepts is a TTL in
// range that survives encode and decode; what it refuses wraps ErrCorrupt
// naming the key. Seeds: testdata/fuzz/FuzzDecodeLease.
func FuzzDecodeLease(f *testing.F) {
	f.Add(encodeLease(10 * time.Second))
	f.Fuzz(func(t *testing.T, data []byte) {
		const key = "/p/lease/a"
		ttl, err := decodeLease(key, data)
		if err != nil {
			refusal(t, err, key)
			return
		}
		if ttl <= 0 || ttl > maxTTL || ttl%time.Millisecond != 0 {
			t.Fatalf("accepted TTL %v", ttl)
		}
		again, err := decodeLease(key, encodeLease(ttl))
		if err != nil || again != ttl {
			t.Fatalf("TTL %v encoded and decoded: %v, %v", ttl, again, err)
		}
	})
}

// FuzzDecodeSeen: as FuzzDecodeLease, for the journal's values. Seeds:
// testdata/fuzz/FuzzDecodeSeen.
func FuzzDecodeSeen(f *testing.F) {
	f.Add(encodeSeen(watchdog.State{Running: true, Timeout: 30 * time.Second, Remaining: 1500 * time.Millisecond, Action: watchdog.ActionPowerDown}))
	f.Fuzz(func(t *testing.T, data []byte) {
		const key = "/p/seen/w/a"
		st, err := decodeSeen(key, data)
		if err != nil {
			refusal(t, err, key)
			return
		}
		if st.Timeout < 0 || st.Remaining < 0 || st.Action > watchdog.ActionPowerCycle {
			t.Fatalf("accepted %+v", st)
		}
		again, err := decodeSeen(key, encodeSeen(st))
		if err != nil || again != st {
			t.Fatalf("%+v encoded and decoded: %+v, %v", st, again, err)
		}
	})
}

// FuzzDecodeDeclaration: only the two declarations decode.
func FuzzDecodeDeclaration(f *testing.F) {
	f.Add([]byte("armed"))
	f.Add([]byte("disarmed"))
	f.Fuzz(func(t *testing.T, data []byte) {
		const key = "/p/watchdog/a"
		disarmed, err := decodeDeclaration(key, data)
		if err != nil {
			refusal(t, err, key)
			return
		}
		if want := string(data) == declDisarmed; disarmed != want || (string(data) != declArmed && !want) {
			t.Fatalf("decoded %q as disarmed=%v", data, disarmed)
		}
	})
}

// Round trips of values a Store writes, and refusals that name the key.
func TestCodec(t *testing.T) {
	for _, ttl := range []time.Duration{time.Second, 10 * time.Second, 2 * time.Minute} {
		if got, err := decodeLease("k", encodeLease(ttl)); err != nil || got != ttl {
			t.Errorf("lease TTL %v round trip: %v, %v", ttl, got, err)
		}
	}
	if string(encodeLease(10*time.Second)) != `{"ttl_ms":10000}` {
		t.Errorf("lease value %s, want {\"ttl_ms\":10000}", encodeLease(10*time.Second))
	}
	for _, bad := range []string{"", "null", "[]", `{"ttl_ms":0}`, `{"ttl_ms":-5}`, `{"ttl_ms":"5"}`, `{"ttl_ms":1000,"x":1}`, `{"ttl_ms":1000} {}`, `{"ttl_ms":1e30}`} {
		_, err := decodeLease("/p/lease/a", []byte(bad))
		if err == nil {
			t.Errorf("lease value %q decoded", bad)
			continue
		}
		refusal(t, err, "/p/lease/a")
	}
	for _, bad := range []string{"", "{}", `{"action":"none","timeout_ms":-1}`, `{"action":"explode"}`, `{"running":1,"action":"none"}`} {
		_, err := decodeSeen("/p/seen/w/a", []byte(bad))
		if err == nil {
			t.Errorf("journal value %q decoded", bad)
			continue
		}
		refusal(t, err, "/p/seen/w/a")
	}
}
