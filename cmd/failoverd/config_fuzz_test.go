package main

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// Whatever the file holds, parsing never panics, every error is a
// ConfigError naming file:line, and a refused literal password never
// shows in it.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte(etcdConfig))
	for _, p := range []string{"deploy/pair.yaml", "deploy/ring4.yaml", "deploy/pair-etcd.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("servers: [{name: s1, bmc: {kind: ipmi, password: pw-in-file}}]"))
	f.Add([]byte("topology: ring\nservers: []\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("f.yaml", data)
		if err == nil {
			if _, terr := cfg.topology(); terr != nil {
				t.Fatalf("accepted a config whose topology fails: %v", terr)
			}
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "f.yaml:") {
			t.Fatalf("error %q is not a ConfigError with file:line", err)
		}
		if strings.HasSuffix(ce.Field, ".password") && strings.Contains(err.Error(), "pw-in-file") {
			t.Fatalf("error shows the password: %q", err)
		}
	})
}
