package redfishbmc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
)

// Config and BMC show no secret in any fmt verb (Format), in slog
// (LogValue) or in JSON (MarshalJSON); the methods have value receivers
// so that values, pointers and structs holding either are covered.

func redacted(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// String shows the configuration with the password redacted.
func (c Config) String() string {
	return fmt.Sprintf("redfishbmc.Config{Endpoint:%q Username:%q Password:%q BasicAuth:%v System:%q CAFile:%q PinnedCertSHA256:%q InsecureSkipVerify:%v AllowHTTP:%v RequestTimeout:%v MaxBodyBytes:%d}",
		c.Endpoint, c.Username, redacted(c.Password), c.BasicAuth, c.System, c.CAFile, c.PinnedCertSHA256, c.InsecureSkipVerify, c.AllowHTTP, c.RequestTimeout, c.MaxBodyBytes)
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return c.String() }

// Format writes String for every verb (%q quotes it), so that %d or %x
// never reach the fields.
func (c Config) Format(f fmt.State, verb rune) { formatAs(f, verb, c.String()) }

// LogValue logs the configuration with the password redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("username", c.Username),
		slog.String("password", redacted(c.Password)),
		slog.Bool("basic_auth", c.BasicAuth),
		slog.String("system", c.System),
		slog.Bool("insecure_skip_verify", c.InsecureSkipVerify),
	)
}

// MarshalJSON encodes every field but Logger, the password redacted.
func (c Config) MarshalJSON() ([]byte, error) {
	type fields Config // the same fields without these methods
	f := fields(c)
	f.Password = redacted(c.Password)
	f.Logger = nil
	return json.Marshal(f)
}

// String names the adapter: endpoint and system, no secret.
func (b BMC) String() string {
	if b.adapter == nil {
		return "redfishbmc.BMC(closed)"
	}
	return fmt.Sprintf("redfishbmc.BMC(%s system=%s)", b.cfg.Endpoint, b.sys.Path)
}

// GoString is String.
func (b BMC) GoString() string { return b.String() }

// Format writes String for every verb (%q quotes it).
func (b BMC) Format(f fmt.State, verb rune) { formatAs(f, verb, b.String()) }

// LogValue logs endpoint and system.
func (b BMC) LogValue() slog.Value {
	if b.adapter == nil {
		return slog.StringValue(b.String())
	}
	return slog.GroupValue(slog.String("endpoint", b.cfg.Endpoint), slog.String("system", b.sys.Path))
}

// MarshalJSON encodes endpoint and system.
func (b BMC) MarshalJSON() ([]byte, error) {
	if b.adapter == nil {
		return []byte("null"), nil
	}
	return json.Marshal(map[string]string{"endpoint": b.cfg.Endpoint, "system": b.sys.Path})
}

func formatAs(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = f.Write([]byte(s))
}
