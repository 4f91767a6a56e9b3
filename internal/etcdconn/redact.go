package etcdconn

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Shown is what of a Config may be printed: whether Client and TLS are
// set, the endpoints, the username, and for the password "REDACTED" (or
// `""` when there is none). The fields are in the order the drivers print
// them; a driver's MarshalJSON embeds Shown first in what it encodes.
type Shown struct {
	Client    bool
	Endpoints []string
	TLS       bool
	Username  string
	Password  string
}

// Shown returns c's printable part.
func (c Config) Shown() Shown {
	return Shown{Client: c.Client != nil, Endpoints: c.Endpoints, TLS: c.TLS != nil, Username: c.Username, Password: redacted(c.Password)}
}

// String lists the fields as a driver's String does:
// `Client:nil Endpoints:["https://a:2379"] TLS:set Username:"root" Password:REDACTED`.
func (s Shown) String() string {
	return fmt.Sprintf("Client:%s Endpoints:%q TLS:%s Username:%q Password:%s",
		set(s.Client), s.Endpoints, set(s.TLS), s.Username, s.Password)
}

// Attrs are the fields for a driver's LogValue.
func (s Shown) Attrs() []slog.Attr {
	return []slog.Attr{
		slog.Bool("client", s.Client),
		slog.Any("endpoints", s.Endpoints),
		slog.Bool("tls", s.TLS),
		slog.String("username", s.Username),
		slog.String("password", s.Password),
	}
}

// Format writes s, a value's redacted String, under every verb (%q quotes
// it), so no verb reaches the value's fields by reflection. Types holding
// a secret call it from their own Format method.
func Format(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s)
		return
	}
	fmt.Fprint(f, s)
}

// String describes c with the password redacted and without the TLS
// config's contents.
func (c Config) String() string {
	return fmt.Sprintf("etcdconn.Config{%s DialTimeout:%v ReconnectMaxDelay:%v DialKeepAliveTime:%v DialKeepAliveTimeout:%v}",
		c.Shown(), c.DialTimeout, c.ReconnectMaxDelay, c.DialKeepAliveTime, c.DialKeepAliveTimeout)
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return c.String() }

// Format prints String under every verb.
func (c Config) Format(f fmt.State, verb rune) { Format(f, verb, c.String()) }

// LogValue logs c with the password redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(append(c.Shown().Attrs(),
		slog.Duration("dialTimeout", c.DialTimeout),
		slog.Duration("reconnectMaxDelay", c.ReconnectMaxDelay),
	)...)
}

// MarshalJSON encodes c with the password redacted; Client and TLS encode
// as whether they are set.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Shown
		DialTimeout          time.Duration
		ReconnectMaxDelay    time.Duration
		DialKeepAliveTime    time.Duration
		DialKeepAliveTimeout time.Duration
	}{c.Shown(), c.DialTimeout, c.ReconnectMaxDelay, c.DialKeepAliveTime, c.DialKeepAliveTimeout})
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "REDACTED"
}

func set(b bool) string {
	if b {
		return "set"
	}
	return "nil"
}
