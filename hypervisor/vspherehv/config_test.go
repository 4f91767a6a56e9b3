package vspherehv

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig("https://vc.example/sdk", "esx1")
	good.Username, good.Password = "u", "hunter2"
	good.Datastores = []string{"shared-ds", "shared ds 2"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no URL", func(c *Config) { c.URL = "" }, "URL"},
		{"bad URL", func(c *Config) { c.URL = "https://[::1" }, "URL"},
		{"creds in URL", func(c *Config) { c.URL = "https://root:hunter2@vc.example/sdk" }, "credentials"},
		{"ftp", func(c *Config) { c.URL = "ftp://vc.example/sdk" }, `"ftp"`},
		{"no host in URL", func(c *Config) { c.URL = "https:///sdk" }, "no host"},
		{"plain http", func(c *Config) { c.URL = "http://vc.example/sdk" }, "plain http"},
		{"no user", func(c *Config) { c.Username = "" }, "Username"},
		{"no password", func(c *Config) { c.Password = "" }, "Password"},
		{"no Host", func(c *Config) { c.Host = "" }, "Host"},
		{"bad thumbprint", func(c *Config) { c.Thumbprint = "AB:CD" }, `Thumbprint "AB:CD"`},
		{"insecure and pinned", func(c *Config) { c.Insecure = true; c.Thumbprint = strings.Repeat("AB:", 19) + "AB" }, "Insecure"},
		{"insecure and roots", func(c *Config) { c.Insecure = true; c.RootCAs = x509.NewCertPool() }, "Insecure"},
		{"keepalive", func(c *Config) { c.KeepAlive = 0 }, "KeepAlive 0s"},
		{"shutdown", func(c *Config) { c.ShutdownTimeout = -time.Second }, "ShutdownTimeout -1s"},
		{"reserve", func(c *Config) { c.ForceReserve = -time.Second }, "ForceReserve -1s"},
		{"poll", func(c *Config) { c.PollInterval = 0 }, "PollInterval 0s"},
		{"no datastores", func(c *Config) { c.Datastores = nil }, "Datastores is empty"},
		{"bracketed datastore", func(c *Config) { c.Datastores = []string{"ok", "[ds]"} }, `Datastores[1] "[ds]"`},
		{"empty datastore", func(c *Config) { c.Datastores = []string{""} }, `Datastores[0] ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v; want ErrConfig naming %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("password in error: %v", err)
			}
		})
	}
}

func TestConfigRedacts(t *testing.T) {
	c := DefaultConfig("https://vc.example/sdk", "esx1")
	c.Username, c.Password = "u", "hunter2"
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("cfg", "config", c)
	for _, out := range []string{c.String(), fmt.Sprintf("%v|%+v|%#v|%s", c, c, c, c), fmt.Sprint(&c), buf.String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("password shown: %s", out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("no REDACTED marker: %s", out)
		}
	}
}
