package redfishbmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

// Login opens one session; Close deletes it.
func TestSessionLoginLogout(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b, err := Open(context.Background(), testConfig(s, ""))
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Sessions(); n != 1 {
		t.Fatalf("%d sessions after Open, want 1", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.Sessions(); n != 0 {
		t.Fatalf("%d sessions after Close, want 0", n)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Readings(context.Background()); !errors.Is(err, bmc.ErrUnreachable) {
		t.Fatalf("Readings after Close: %v", err)
	}
}

// An expired session is replaced once, transparently.
func TestSessionExpiredRelogin(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	s.ExpireSessions()
	if _, err := b.Readings(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := s.Count("POST", "/redfish/v1/SessionService/Sessions"); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}
	if n := s.Sessions(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

func TestWrongPassword(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	cfg := testConfig(s, "")
	cfg.Password = "wrong-Secret-XYZ"
	_, err := Open(context.Background(), cfg)
	if !errors.Is(err, bmc.ErrUnreachable) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want ErrUnreachable with HTTP 401", err)
	}
	if strings.Contains(err.Error(), cfg.Password) {
		t.Fatal("error holds the password")
	}
}

// Basic auth only when asked: then no session is opened.
func TestBasicAuth(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{AllowBasicAuth: true})
	cfg := testConfig(s, "")
	cfg.BasicAuth = true
	b := open(t, cfg)
	if _, err := b.Readings(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := s.Count("POST", "/redfish/v1/SessionService/Sessions"); n != 0 {
		t.Errorf("%d session logins with BasicAuth", n)
	}
}

func TestTLSOptions(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, s.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	base := testConfig(s, "")
	base.PinnedCertSHA256 = ""
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"system roots refuse a test certificate", func(*Config) {}, bmc.ErrInsecure},
		{"CA file", func(c *Config) { c.CAFile = caFile }, nil},
		{"pin", func(c *Config) { c.PinnedCertSHA256 = pin(s) }, nil},
		{"wrong pin", func(c *Config) { c.PinnedCertSHA256 = strings.Repeat("ab", 32) }, bmc.ErrInsecure},
		{"insecure when asked", func(c *Config) { c.InsecureSkipVerify = true }, nil},
		{"plain http refused", func(c *Config) { c.Endpoint = strings.Replace(c.Endpoint, "https", "http", 1) }, bmc.ErrInsecure},
		{"credentials in URL refused", func(c *Config) { c.Endpoint = strings.Replace(c.Endpoint, "https://", "https://u:p@", 1) }, bmc.ErrInsecure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mod(&cfg)
			b, err := Open(ctxT(t, 5*time.Second), cfg)
			if b != nil {
				defer b.Close()
			}
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), testPass) {
				t.Fatal("error holds the password")
			}
		})
	}
}

// A redirect to another host is refused: the token never leaves.
func TestCrossHostRedirectRefused(t *testing.T) {
	var leaked atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Auth-Token") != "" || r.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer other.Close()
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	// The Systems collection answers with a redirect to the other host.
	s.Put("/redfish/v1", map[string]any{"@odata.id": "/redfish/v1/", "Systems": map[string]any{"@odata.id": "/redfish/v1/Moved"},
		"Links": map[string]any{"Sessions": map[string]any{"@odata.id": "/redfish/v1/SessionService/Sessions"}}})
	s.Inject(redfishsim.Fault{Path: "/redfish/v1/Moved", Redirect: otherURL + "/redfish/v1/Systems"})
	cfg := testConfig(s, "")
	_, err := Open(ctxT(t, 5*time.Second), cfg)
	if !errors.Is(err, bmc.ErrInsecure) || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("err = %v, want ErrInsecure about the redirect", err)
	}
	if leaked.Load() != 0 {
		t.Fatal("credentials reached the other host")
	}
}

// Secrets never show in %v, %+v, %#v, slog or errors.
func TestSecretsRedacted(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	cfg := testConfig(s, "")
	var logBuf bytes.Buffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := open(t, cfg)
	tok := ""
	if toks := s.Tokens(); len(toks) == 1 {
		tok = toks[0]
	}
	if tok == "" {
		t.Fatal("no session token to look for")
	}
	cfg.Logger.Info("config", "cfg", cfg)
	s.ExpireSessions() // a relogin logs a line
	_, _ = b.Readings(ctxT(t, 5*time.Second))
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", cfg, cfg, cfg, cfg, b, b, b) + logBuf.String()
	for _, secret := range []string{testPass, tok} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret %q found in output:\n%s", secret[:4]+"...", out)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Error("no redaction marker in output")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Endpoint = "https://127.0.0.1:8443"
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod   func(*Config)
		field string
	}{
		{func(c *Config) { c.Endpoint = "" }, "Endpoint"},
		{func(c *Config) { c.Endpoint = "ftp://x" }, "Endpoint"},
		{func(c *Config) { c.Endpoint = "https://h/redfish" }, "Endpoint"},
		{func(c *Config) { c.Password = "x" }, "Password"},
		{func(c *Config) { c.BasicAuth = true }, "BasicAuth"},
		{func(c *Config) { c.InsecureSkipVerify, c.CAFile = true, "ca.pem" }, "InsecureSkipVerify"},
		{func(c *Config) { c.PinnedCertSHA256 = "abc" }, "PinnedCertSHA256"},
		{func(c *Config) { c.RequestTimeout = 0 }, "RequestTimeout"},
		{func(c *Config) { c.MaxBodyBytes = 10 }, "MaxBodyBytes"},
		{func(c *Config) { c.MaxConcurrentRequests = 0 }, "MaxConcurrentRequests"},
		{func(c *Config) { c.PowerPollInterval = -1 }, "PowerPollInterval"},
		{func(c *Config) { c.PollInterval = 0 }, "PollInterval"},
		{func(c *Config) { c.ReconnectMax = time.Millisecond }, "ReconnectMin"},
		{func(c *Config) { c.StallTimeout = 0 }, "StallTimeout"},
	} {
		c := ok
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "Config."+tc.field) {
			t.Errorf("%s: err = %v, want one naming Config.%s", tc.field, err, tc.field)
		}
	}
}

// Many callers hitting an expired session log in once, not once each.
func TestReloginOnceUnderConcurrency(t *testing.T) {
	s := startSim(t, "testdata/mini", redfishsim.Options{})
	b := open(t, testConfig(s, ""))
	if _, err := b.Readings(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	s.ExpireSessions()
	done := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := b.Health(ctxT(t, 5*time.Second))
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Count("POST", "/redfish/v1/SessionService/Sessions"); n != 2 {
		t.Errorf("%d logins, want 2 (Open and one relogin)", n)
	}
	if n := s.Sessions(); n != 1 {
		t.Errorf("%d sessions open, want 1", n)
	}
}
