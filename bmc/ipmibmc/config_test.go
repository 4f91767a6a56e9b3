package ipmibmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
)

func TestValidate(t *testing.T) {
	ok := DefaultConfig("10.0.0.5", "admin", "pw")
	tests := []struct {
		name  string
		edit  func(*Config)
		want  error  // sentinel, nil for valid
		field string // named in the message
	}{
		{"default", func(*Config) {}, nil, ""},
		{"suite 3", func(c *Config) { c.CipherSuite = 3 }, nil, ""},
		{"suite 0 insecure", func(c *Config) { c.CipherSuite = 0 }, bmc.ErrInsecure, "CipherSuite 0"},
		{"suite 1 insecure", func(c *Config) { c.CipherSuite = 1 }, bmc.ErrInsecure, "CipherSuite 1"},
		{"suite 8 unsupported", func(c *Config) { c.CipherSuite = 8 }, ErrInvalidConfig, "CipherSuite 8"},
		{"empty password", func(c *Config) { c.Password = "" }, bmc.ErrInsecure, "Password"},
		{"long password", func(c *Config) { c.Password = strings.Repeat("x", 21) }, ErrInvalidConfig, "Password is 21 bytes"},
		{"ipmi 1.5 not asked", func(c *Config) { c.Interface = InterfaceLAN }, bmc.ErrInsecure, "AllowIPMI15"},
		{"ipmi 1.5 asked", func(c *Config) { c.Interface, c.AllowIPMI15 = InterfaceLAN, true }, nil, ""},
		{"in-band needs no password", func(c *Config) { c.Interface, c.Password, c.Host = InterfaceOpen, "", "" }, nil, ""},
		{"unknown interface", func(c *Config) { c.Interface = "serial" }, ErrInvalidConfig, `Interface "serial"`},
		{"no host", func(c *Config) { c.Host = "" }, ErrInvalidConfig, "Host"},
		{"bad port", func(c *Config) { c.Port = 70000 }, ErrInvalidConfig, "Port 70000"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, ErrInvalidConfig, "Timeout"},
		{"negative retries", func(c *Config) { c.Retries = -1 }, ErrInvalidConfig, "Retries -1"},
		{"zero threshold refresh", func(c *Config) { c.ThresholdRefresh = 0 }, ErrInvalidConfig, "ThresholdRefresh"},
		{"long user", func(c *Config) { c.Username = strings.Repeat("u", 17) }, ErrInvalidConfig, "Username"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := New(c); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate: %q does not name %q", err, tc.field)
			}
			if _, err := New(c); !errors.Is(err, tc.want) {
				t.Errorf("New accepted it: %v", err)
			}
		})
	}
}

func TestPasswordRedacted(t *testing.T) {
	const pw = "s3cr3t-Pa55"
	c := DefaultConfig("bmc1", "admin", pw)
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "cfg", c)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("config", "cfg", c)
	b, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%s": fmt.Sprintf("%s", c), "%q": fmt.Sprintf("%q", c), "String": c.String(),
		"ptr %+v": fmt.Sprintf("%+v", &c), "slog": logBuf.String(), "BMC %v": fmt.Sprintf("%v", b), "BMC %#v": fmt.Sprintf("%#v", b),
	}
	for how, s := range outs {
		if strings.Contains(s, pw) {
			t.Errorf("%s shows the password: %s", how, s)
		}
	}
	if !strings.Contains(outs["%v"], "REDACTED") || !strings.Contains(outs["slog"], "password_set") {
		t.Errorf("redacted forms do not say a password is set: %s / %s", outs["%v"], outs["slog"])
	}
}

// TestInbandWithoutDevice: on a machine without /dev/ipmi0 the in-band
// adapter reports the BMC unreachable, naming the cause. (With a device
// present the test is skipped: it must not touch a real watchdog.)
func TestInbandWithoutDevice(t *testing.T) {
	for _, dev := range []string{"/dev/ipmi0", "/dev/ipmi/0", "/dev/ipmidev/0"} {
		if _, err := os.Stat(dev); err == nil {
			t.Skipf("%s exists: not touching a real BMC", dev)
		}
	}
	b, err := New(DefaultInbandConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = b.State(ctx)
	if !errors.Is(err, bmc.ErrUnreachable) || !strings.Contains(err.Error(), "in-band") {
		t.Fatalf("State in-band without a device: %v", err)
	}
	t.Log(err)
}
