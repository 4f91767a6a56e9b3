package ipmibmc

import (
	"fmt"
	"log/slog"
)

// secret holds a password inside a closure, where reflection cannot reach
// it: fmt prints a func field as an address under every verb, also the
// bad verbs for which it ignores Format methods, and encoding/json
// skips it. Printed or encoded directly it says "REDACTED" ("" when
// empty). reveal gives the value where the password is needed.
type secret func() string

func newSecret(v string) secret { return func() string { return v } }

func (s secret) reveal() string {
	if s == nil {
		return ""
	}
	return s()
}

func (s secret) String() string {
	if s.reveal() == "" {
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
