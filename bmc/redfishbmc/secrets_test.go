package redfishbmc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

// The password and the token show in no fmt verb, JSON or slog output of
// a Config, a *BMC, a BMC value or a struct holding one; and the
// password is reachable from no field of the BMC value.
func TestSecretsEveryVerb(t *testing.T) {
	for _, basic := range []bool{false, true} {
		t.Run(fmt.Sprintf("basic=%v", basic), func(t *testing.T) {
			s := startSim(t, mockup(t, "public-tower"), redfishsim.Options{AllowBasicAuth: true})
			cfg := testConfig(s, "")
			cfg.BasicAuth = basic
			b := open(t, cfg)
			if _, err := b.Readings(ctxT(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
			secrets := []string{testPass, base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPass))}
			if !basic {
				toks := s.Tokens()
				if len(toks) != 1 {
					t.Fatalf("%d sessions", len(toks))
				}
				secrets = append(secrets, toks[0])
			}
			type holder struct {
				C Config
				B *BMC
				V BMC
			}
			type hidden struct {
				b BMC
			}
			operands := map[string]any{
				"Config": cfg, "*Config": &cfg, "*BMC": b, "BMC": *b,
				"holder": holder{cfg, b, *b}, "*holder": &holder{cfg, b, *b}, "hidden": hidden{*b},
				"[]any": []any{cfg, b, *b}, "map": map[string]any{"c": cfg, "b": b, "v": *b},
			}
			var out bytes.Buffer
			for name, v := range operands {
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%T"} {
					fmt.Fprintf(&out, "%s %s: "+verb+"\n", name, verb, v)
				}
				if j, err := json.Marshal(v); err == nil {
					fmt.Fprintf(&out, "%s json: %s\n", name, j)
				} else if name != "hidden" {
					t.Errorf("json.Marshal(%s): %v", name, err)
				}
			}
			for _, h := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
				l := slog.New(h)
				for name, v := range operands {
					l.Info("x", name, v)
				}
				l.Info("y", "cfg", cfg, "bmc", b, "value", *b)
			}
			for _, secret := range secrets {
				if strings.Contains(out.String(), secret) {
					t.Fatalf("secret %.4s... in output:\n%s", secret, out.String())
				}
			}
			for _, want := range []string{"[redacted]", s.URL} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if where := reachable(reflect.ValueOf(*b), testPass); where != "" {
				t.Fatalf("the password is reachable from the BMC value at %s", where)
			}
		})
	}
}

// reachable walks every field, element and pointer from v (unexported
// ones too) and returns the path of a string or byte slice holding
// secret, or "". Functions and channels are opaque, and so is
// net/http's Transport: its connection state is live, written by its
// own goroutines (the login goes on a connection of its own, closed
// after the answer).
func reachable(v reflect.Value, secret string) string {
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value, path string, depth int) string
	walk = func(v reflect.Value, path string, depth int) string {
		if !v.IsValid() || depth > 40 {
			return ""
		}
		switch v.Kind() {
		case reflect.String:
			if strings.Contains(v.String(), secret) {
				return path
			}
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				return ""
			}
			if v.Kind() == reflect.Pointer {
				if seen[v.Pointer()] {
					return ""
				}
				seen[v.Pointer()] = true
			}
			return walk(v.Elem(), path, depth+1)
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[http.Transport]() {
				return ""
			}
			for i := range v.NumField() {
				if p := walk(v.Field(i), path+"."+v.Type().Field(i).Name, depth+1); p != "" {
					return p
				}
			}
		case reflect.Slice, reflect.Array:
			if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
				if v.IsNil() || seen[v.Pointer()] {
					return ""
				}
				seen[v.Pointer()] = true
				if bytes.Contains(v.Bytes(), []byte(secret)) {
					return path
				}
				return ""
			}
			for i := range min(v.Len(), 10000) {
				if p := walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); p != "" {
					return p
				}
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				if p := walk(it.Key(), path+"{key}", depth+1); p != "" {
					return p
				}
				if p := walk(it.Value(), path+"{value}", depth+1); p != "" {
					return p
				}
			}
		}
		return ""
	}
	return walk(v, "BMC", 0)
}
