package libvirthv

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"empty URI", func(c *Config) { c.URI = "" }, "URI is empty"},
		{"bad URI", func(c *Config) { c.URI = "qemu+ssh://root:pw@[::1/system" }, "URI [unparsable URI redacted] does not parse"},
		{"negative shutdown", func(c *Config) { c.ShutdownTimeout = -time.Second }, "ShutdownTimeout -1s is negative"},
		{"negative reserve", func(c *Config) { c.DestroyReserve = -1 }, "DestroyReserve -1ns is negative"},
		{"zero poll", func(c *Config) { c.PollInterval = 0 }, "PollInterval 0s must be positive"},
		{"sub-second keep-alive", func(c *Config) { c.KeepAliveInterval = time.Millisecond }, "KeepAliveInterval 1ms must be 0 or at least 1s"},
		{"keep-alive count 0", func(c *Config) { c.KeepAliveCount = 0 }, "KeepAliveCount is 0"},
		{"keep-alive off", func(c *Config) { c.KeepAliveInterval, c.KeepAliveCount = 0, 0 }, ""},
		{"overcommit below 1", func(c *Config) { c.CPUOvercommit = 0.5 }, "CPUOvercommit 0.5 must be between 1 and 64"},
		{"overcommit NaN", func(c *Config) { c.CPUOvercommit = math.NaN() }, "CPUOvercommit NaN"},
		{"unknown disk check", func(c *Config) { c.DiskCheck = 9 }, "DiskCheck diskcheck(9) is unknown"},
		{"relative checkpoint dir", func(c *Config) { c.CheckpointDir = "ckpt" }, `CheckpointDir "ckpt" is not a clean absolute path`},
		{"checkpoint dir with ..", func(c *Config) { c.CheckpointDir = "/srv/../etc" }, `CheckpointDir "/srv/../etc"`},
		{"relative image root", func(c *Config) { c.Domain.ImageRoots = []string{"/srv/images", "images"} }, `Domain.ImageRoots[1] "images" is not a clean absolute path`},
		{"image root with trailing slash", func(c *Config) { c.Domain.ImageRoots = []string{"/srv/images/"} }, `Domain.ImageRoots[0] "/srv/images/"`},
		{"firmware root with ..", func(c *Config) { c.Domain.FirmwareRoots = []string{"/usr/share/../../etc"} }, `Domain.FirmwareRoots[0]`},
		{"relative emulator", func(c *Config) { c.Domain.Emulators = []string{"qemu-kvm"} }, `Domain.Emulators[0] "qemu-kvm"`},
		{"no image roots", func(c *Config) { c.Domain.ImageRoots = nil }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig("qemu:///system")
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want ErrInvalidConfig saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("Validate leaks the password: %v", err)
			}
		})
	}
}

// Credentials in the URI never reach %v, %+v, %#v, slog or New's errors.
func TestConfigRedactsSecrets(t *testing.T) {
	c := DefaultConfig("qemu+tcp://admin:hunter2@127.0.0.1/system?authfile=/etc/secret-hunter2&socket=/run/x.sock")
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logged.String(), fmt.Sprint(&c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret printed: %s", s)
		}
		if !strings.Contains(s, "127.0.0.1") || !strings.Contains(s, "/run/x.sock") {
			t.Errorf("redaction hid too much: %s", s)
		}
	}
}

// Connection errors name the host but not the credentials.
func TestConnectErrorRedacts(t *testing.T) {
	dir := t.TempDir()
	c := DefaultConfig("test+unix:///default?socket=" + dir + "/none.sock&authfile=hunter2")
	hv, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer hv.Close()
	err = hv.Ping(testCtx(t))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Ping: %v; want an error without the secret", err)
	}
	if s := fmt.Sprint(hv); strings.Contains(s, "hunter2") {
		t.Errorf("Hypervisor prints the secret: %s", s)
	}
}
