package ipmibmc

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

// TestSecretsUnreachable: no fmt verb, no JSON encoding and no slog
// handler shows the password, for a Config, a *BMC, a BMC value, structs
// holding them, and this package's structs reachable from a BMC, also
// after a session was opened. (%p is left out: fmt prints a struct's
// fields for that bad verb without asking its Format method.)
func TestSecretsUnreachable(t *testing.T) {
	s := startSim(t, ipmisim.Config{Password: "Pw-7f3a9c"})
	cfg := simConfig(s)
	pw := cfg.Password
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.PowerState(ctxT(t, 5*time.Second)); err != nil { // keys derived, guard populated
		t.Fatal(err)
	}
	type holder struct {
		C   Config
		P   *Config
		B   BMC
		BP  *BMC
		Any any
	}
	values := map[string]any{
		"Config": cfg, "*Config": &cfg, "BMC": *b, "*BMC": b,
		"holder":   holder{C: cfg, P: &cfg, B: *b, BP: b, Any: cfg},
		"*holder":  &holder{C: cfg, P: &cfg, B: *b, BP: b, Any: b},
		"[]Config": []Config{cfg}, "map": map[string]any{"c": cfg, "b": b},
		"session": b.s, "guardDialer": b.s.guard, "guardConn": b.s.guard.last.Load(),
	}
	leaks := []string{pw, hex.EncodeToString([]byte(pw)), strings.ToUpper(hex.EncodeToString([]byte(pw))),
		base64.StdEncoding.EncodeToString([]byte(pw)), fmt.Sprintf("%q", pw)[1:len(pw)]}
	check := func(how, out string) {
		t.Helper()
		for _, l := range leaks {
			if strings.Contains(out, l) {
				t.Errorf("%s shows the password (%q): %s", how, l, out)
			}
		}
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%o", "%b", "%c", "%U", "%e", "%g", "%t", "%T", "%10.3s", "%-8x", "% x", "%#x"}
	for name, v := range values {
		for _, verb := range verbs {
			check(name+" "+verb, fmt.Sprintf(verb, v))
		}
		check(name+" Sprint", fmt.Sprint(v))
		check(name+" Sprintln", fmt.Sprintln(v))
		if j, err := json.Marshal(v); err == nil {
			check(name+" json", string(j))
		} else if name != "guardConn" && name != "session" && name != "guardDialer" {
			t.Errorf("json.Marshal(%s): %v", name, err)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
		check(name+" slog", buf.String())
	}
	j, _ := json.Marshal(cfg)
	if !strings.Contains(string(j), `"Password":"REDACTED"`) {
		t.Errorf("json of Config does not say the password is set: %s", j)
	}
}
