package etcdconn_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/rackha/failover/imagestore/etcdstore"
	"github.com/rackha/failover/lease/etcdlease"
)

// No fmt verb, slog handler or JSON encoding of etcdconn.Config or of
// either driver's Config shows the password or anything of the TLS
// config (its client key, its server name); each says the password is
// set and shows the username.
func TestConfigsRedact(t *testing.T) {
	const pw = "s3cr3t-Passw0rd"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := key.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{ServerName: "tls-contents.example", Certificates: []tls.Certificate{{PrivateKey: key}}}
	secrets := []string{pw, fmt.Sprintf("%x", pw), fmt.Sprintf("%X", pw), fmt.Sprintf("%x", raw), fmt.Sprint(raw)[1:40], "tls-contents.example"}

	conn := valid()
	conn.Username, conn.Password, conn.TLS = "root", pw, tc
	store := etcdstore.DefaultConfig()
	store.Endpoints, store.Username, store.Password, store.TLS = conn.Endpoints, "root", pw, tc
	lease := etcdlease.DefaultConfig()
	lease.Endpoints, lease.Username, lease.Password, lease.TLS = conn.Endpoints, "root", pw, tc
	lease.Peers = []string{"blade-b"}

	for name, cfg := range map[string]any{"etcdconn.Config": conn, "etcdstore.Config": store, "etcdlease.Config": lease} {
		for _, out := range printed(t, cfg) {
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Fatalf("%s: printed form shows a secret (%.12s...): %s", name, s, out)
				}
			}
		}
		if s := fmt.Sprint(cfg); !strings.HasPrefix(s, name+"{") || !strings.Contains(s, `Username:"root" Password:REDACTED`) || !strings.Contains(s, "TLS:set") {
			t.Errorf("%s: String() = %s, want the type, the username, REDACTED and TLS:set", name, s)
		}
	}
}

// printed is v (a Config) under every fmt verb, alone, by pointer and in
// a slice; logged by slog's JSON and text handlers; and encoded as JSON.
func printed(t *testing.T, v any) []string {
	t.Helper()
	ptr := reflect.New(reflect.TypeOf(v))
	ptr.Elem().Set(reflect.ValueOf(v))
	slice := reflect.Append(reflect.MakeSlice(reflect.SliceOf(reflect.TypeOf(v)), 0, 1), reflect.ValueOf(v))
	forms := []any{v, ptr.Interface(), slice.Interface(), struct{ Cfg any }{v}}
	var out []string
	for _, f := range forms {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %[1]v"} {
			out = append(out, fmt.Sprintf(verb, f))
		}
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", f, err)
		}
		out = append(out, string(b))
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", f)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "cfg", f)
		out = append(out, buf.String())
	}
	return out
}

// The drivers print as they did before they shared this package: String,
// JSON (Shown's fields first, then the driver's own) and slog.
func TestDriverFormsUnchanged(t *testing.T) {
	store := etcdstore.DefaultConfig()
	store.Endpoints, store.Username, store.Password, store.TLS = []string{"http://a:1", "https://b:2"}, "root", "pw", &tls.Config{}
	lease := etcdlease.DefaultConfig()
	lease.Endpoints, lease.Username, lease.Password, lease.TLS = []string{"http://a:1"}, "root", "pw", &tls.Config{}
	lease.Peers, lease.Logger = []string{"x", "y"}, slog.Default()

	tests := []struct {
		cfg                 any
		str, json, slogJSON string
	}{{
		store,
		`etcdstore.Config{Client:nil Endpoints:["http://a:1" "https://b:2"] TLS:set Username:"root" Password:REDACTED Prefix:"/failover/default/" DialTimeout:5s ReconnectMaxDelay:2s DialKeepAliveTime:10s DialKeepAliveTimeout:5s RequestTimeout:5s MaxValueBytes:1048576}`,
		`{"Client":false,"Endpoints":["http://a:1","https://b:2"],"TLS":true,"Username":"root","Password":"REDACTED","Prefix":"/failover/default/","DialTimeout":5000000000,"ReconnectMaxDelay":2000000000,"DialKeepAliveTime":10000000000,"DialKeepAliveTimeout":5000000000,"RequestTimeout":5000000000,"MaxValueBytes":1048576}`,
		`"cfg":{"client":false,"endpoints":["http://a:1","https://b:2"],"tls":true,"username":"root","password":"REDACTED","prefix":"/failover/default/","requestTimeout":5000000000}}`,
	}, {
		lease,
		`etcdlease.Config{Client:nil Endpoints:["http://a:1"] TLS:set Username:"root" Password:REDACTED Prefix:"/rackha/failover/" TTL:10s DialTimeout:5s RequestTimeout:5s Peers:["x" "y"] Logger:set}`,
		`{"Client":false,"Endpoints":["http://a:1"],"TLS":true,"Username":"root","Password":"REDACTED","Prefix":"/rackha/failover/","TTL":10000000000,"DialTimeout":5000000000,"RequestTimeout":5000000000,"Peers":["x","y"],"Logger":true}`,
		`"cfg":{"client":false,"endpoints":["http://a:1"],"tls":true,"username":"root","password":"REDACTED","prefix":"/rackha/failover/","ttl":10000000000,"requestTimeout":5000000000,"peers":["x","y"]}}`,
	}}
	for _, tc := range tests {
		if got := fmt.Sprint(tc.cfg); got != tc.str {
			t.Errorf("String() =\n%s\nwant\n%s", got, tc.str)
		}
		b, err := json.Marshal(tc.cfg)
		if err != nil || string(b) != tc.json {
			t.Errorf("json.Marshal(%T) =\n%s, %v\nwant\n%s", tc.cfg, b, err, tc.json)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", tc.cfg)
		if got := strings.TrimSpace(buf.String()); !strings.HasSuffix(got, tc.slogJSON) {
			t.Errorf("slog of %T =\n%s\nwant it to end\n%s", tc.cfg, got, tc.slogJSON)
		}
	}
	// Without a password there is nothing to redact, and it says so.
	store.Password = ""
	if s := fmt.Sprint(store); !strings.Contains(s, `Password:""`) {
		t.Errorf("String() without a password = %s, want Password:\"\"", s)
	}
}
