package redfishbmc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

const (
	testUser = "admin"
	testPass = "s3cret-Pa55word"
)

// mockup locates a shared DMTF mockup; missing is a failure under CI.
func mockup(t testing.TB, name string) string {
	t.Helper()
	dir, err := redfishsim.MockupDir(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("shared mockups missing: %v", err)
	}
	return dir
}

// startSim serves dir with the test account.
func startSim(t testing.TB, dir string, opts redfishsim.Options) *redfishsim.Server {
	t.Helper()
	if opts.Username == "" {
		opts.Username, opts.Password = testUser, testPass
	}
	s, err := redfishsim.New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func pin(s *redfishsim.Server) string {
	sum := sha256.Sum256(s.CertDER())
	return hex.EncodeToString(sum[:])
}

// testConfig reaches s with the test account, the certificate pinned.
func testConfig(s *redfishsim.Server, system string) Config {
	c := DefaultConfig()
	c.Endpoint = s.URL
	c.Username, c.Password = testUser, testPass
	c.PinnedCertSHA256 = pin(s)
	c.System = system
	c.RequestTimeout = 2 * time.Second
	c.PowerPollInterval = 20 * time.Millisecond
	c.Logger = slog.New(slog.DiscardHandler)
	return c
}

func open(t testing.TB, cfg Config) *BMC {
	t.Helper()
	b, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

const (
	bladeSys  = "529QB9450R6"
	blade2Sys = "529QB9451R6"
	towerSys  = "437XR1238R2"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
