package ipmibmc

import (
	"fmt"
	"log/slog"
)

// secret holds a password. Every way of printing or encoding it (every
// fmt verb, slog, JSON) gives "REDACTED", or "" when it is empty; only
// the field v, read where the password is needed, has the value.
type secret struct{ v string }

func (s secret) String() string {
	if s.v == "" {
		return ""
	}
	return "REDACTED"
}

// GoString keeps %#v redacted.
func (s secret) GoString() string { return s.String() }

// Format makes every verb print String (quoted for %q).
func (s secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	fmt.Fprint(f, s.String())
}

// LogValue logs the redacted form.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON encodes the redacted form.
func (s secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }
