package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rackha/failover/bmc/redfishbmc/redfishsim"
)

func startRedfish(t *testing.T, mockup string) *redfishsim.Server {
	t.Helper()
	dir, err := redfishsim.MockupDir(mockup)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
	s, err := redfishsim.New(dir, redfishsim.Options{Username: "admin", Password: "rf-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// setRedfishFlags sets the Redfish flags for one test and restores them.
func setRedfishFlags(t *testing.T, url, ca, pin, system string, asJSON bool) {
	t.Helper()
	old := [...]any{*redfishURL, *redfishCA, *redfishPin, *redfishSystem, *user, *pass, *jsonOut}
	*redfishURL, *redfishCA, *redfishPin, *redfishSystem, *user, *pass, *jsonOut = url, ca, pin, system, "admin", "", asJSON
	t.Cleanup(func() {
		*redfishURL, *redfishCA, *redfishPin, *redfishSystem = old[0].(string), old[1].(string), old[2].(string), old[3].(string)
		*user, *pass, *jsonOut = old[4].(string), old[5].(string), old[6].(bool)
	})
}

// An enclosure without -system lists each blade.
func TestRedfishEnclosureJSON(t *testing.T) {
	s := startRedfish(t, "public-bladed")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BMC_PASSWORD", "rf-secret")
	setRedfishFlags(t, s.URL, ca, "", "", true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, &out, &errb)
	var got []status
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	// Exit 0: a watchdog the service does not offer is no failure.
	if code != 0 || errb.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	var targets []string
	for _, st := range got {
		targets = append(targets, strings.TrimPrefix(st.Target, "redfish "+s.URL+" system "))
		if st.Power != "on" || st.Health == nil || st.Health.Failed || len(st.Readings) != 11 || st.ReadingsErr != "" {
			t.Errorf("%s: power %q health %+v %d readings %q", st.Target, st.Power, st.Health, len(st.Readings), st.ReadingsErr)
		}
		if !st.OK || st.WatchdogErr != "" || !slices.Equal(st.NotOffered, []string{"watchdog"}) {
			t.Errorf("%s: ok %t, watchdog error %q, not offered %q", st.Target, st.OK, st.WatchdogErr, st.NotOffered)
		}
	}
	if d := cmp.Diff([]string{"529QB9450R6", "529QB9451R6", "529QB9452R6", "529QB9453R6"}, targets); d != "" {
		t.Errorf("targets (-want +got):\n%s", d)
	}
	if s.Sessions() != 0 {
		t.Errorf("%d sessions left open", s.Sessions())
	}
}

func TestRedfishTowerTable(t *testing.T) {
	s := startRedfish(t, "public-tower")
	sum := sha256.Sum256(s.CertDER())
	t.Setenv("BMC_PASSWORD", "rf-secret")
	setRedfishFlags(t, s.URL, "", hex.EncodeToString(sum[:]), "437XR1238R2", false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	if code := run(ctx, &out, &errb); code != 0 {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	for _, want := range []string{"Power Supply #1 Input Voltage  voltage  119.27", "health:   failed=false power=on", "power:    on",
		"watchdog: " + notOffered, "result:   ok"} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String()+errb.String(), "rf-secret") {
		t.Error("password in output")
	}
}

// Without a trusted certificate the tool refuses the service.
func TestRedfishUntrusted(t *testing.T) {
	s := startRedfish(t, "public-tower")
	t.Setenv("BMC_PASSWORD", "rf-secret")
	setRedfishFlags(t, s.URL, "", "", "", false)
	var out, errb bytes.Buffer
	if code := run(context.Background(), &out, &errb); code != 1 || !strings.Contains(errb.String(), "insecure") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
