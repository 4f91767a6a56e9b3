package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A bad config stops every role with exit status 2 and file:line:field.
func TestBadConfigExits2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "rack.yaml")
	text := strings.Replace(goodConfig, "      password_file: /run/s1-bmc\n", "      password: hunter2\n", 1)
	if err := os.WriteFile(bad, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"rack-manager", "-config", bad}, {"monitor", "-config", bad, "-server", "s1"}, {"all", "-config", bad}, {"status", "-config", bad}} {
		cmd := exec.Command(needBinary(t), args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("%v: %v, want exit status 2", args, err)
		}
		msg := stderr.String()
		if !strings.Contains(msg, bad+":8: servers[0].bmc.password: a literal password is not allowed") || strings.Contains(msg, "hunter2") {
			t.Errorf("%v: stderr %q", args, msg)
		}
	}
	if code := run([]string{"monitor", "-config", "deploy/pair.yaml", "-server", "s9"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("unknown -server: exit %d, want 2", code)
	}
	// -check reads the certificates: the example's are not here.
	var errb bytes.Buffer
	if code := run([]string{"monitor", "-config", "deploy/pair.yaml", "-server", "s1", "-check"}, &bytes.Buffer{}, &errb); code != 2 ||
		!strings.Contains(errb.String(), "deploy/pair.yaml:23: servers[0].tls: cannot load the certificate") {
		t.Errorf("-check without certificates: exit %d, %s", code, errb.String())
	}
	if code := run([]string{"frobnicate"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
}
