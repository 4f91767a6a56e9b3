package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rackha/failover/bmc/ipmibmc/ipmisim"
)

func startSim(t *testing.T) *ipmisim.Sim {
	t.Helper()
	if err := ipmisim.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
	s, err := ipmisim.Start(ipmisim.Config{Dir: t.TempDir(), PoweredOn: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// setFlags sets the IPMI flags for one test and restores them after.
func setFlags(t *testing.T, addr, u, p string, asJSON bool) {
	t.Helper()
	old := [...]any{*ipmiAddrs, *user, *pass, *jsonOut, *ipmiCipher, *ipmiSDRDir}
	*ipmiAddrs, *user, *pass, *jsonOut, *ipmiCipher, *ipmiSDRDir = addr, u, p, asJSON, 3, t.TempDir()
	t.Cleanup(func() {
		*ipmiAddrs, *user, *pass, *jsonOut, *ipmiCipher = old[0].(string), old[1].(string), old[2].(string), old[3].(bool), old[4].(int)
		*ipmiSDRDir = old[5].(string)
	})
}

func TestIPMIJSON(t *testing.T) {
	s := startSim(t)
	// The password comes from the environment, not the flag.
	t.Setenv("BMC_PASSWORD", s.Password())
	setFlags(t, s.Addr(), s.User(), "", true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	if code := run(ctx, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errb.String())
	}
	var got []status
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if len(got) != 1 {
		t.Fatalf("%d targets, want 1", len(got))
	}
	var names, wantNames []string
	for _, r := range got[0].Readings {
		names = append(names, r.Name)
		if r.Value == nil || r.Status != "ok" {
			t.Errorf("reading %q: status %s value %v", r.Name, r.Status, r.Value)
		}
	}
	for _, sn := range s.Sensors() {
		wantNames = append(wantNames, sn.Name)
	}
	if d := cmp.Diff(wantNames, names); d != "" {
		t.Errorf("sensor names (-want +got):\n%s", d)
	}
	if got[0].Power != "on" || got[0].Health == nil || got[0].Health.Failed || got[0].Watchdog == nil {
		t.Errorf("status: power %q health %+v watchdog %+v", got[0].Power, got[0].Health, got[0].Watchdog)
	}
}

func TestIPMITable(t *testing.T) {
	s := startSim(t)
	setFlags(t, s.Addr(), s.User(), s.Password(), false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	if code := run(ctx, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errb.String())
	}
	for _, want := range []string{"SENSOR", "P12V", "11.904", "CPU0 Temp", "power:    on", "watchdog: running=false", "result:   ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestIPMIWrongPasswordNotPrinted(t *testing.T) {
	s := startSim(t)
	const secret = "wrong-pass-7f3a"
	setFlags(t, s.Addr(), s.User(), secret, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	if code := run(ctx, &out, &errb); code != 1 {
		t.Errorf("exit %d with a wrong password, want 1", code)
	}
	all := out.String() + errb.String()
	t.Log(all)
	if strings.Contains(all, secret) {
		t.Errorf("the password appears in the output:\n%s", all)
	}
	if !strings.Contains(all, "unreachable") {
		t.Errorf("output does not say the BMC could not be used:\n%s", all)
	}
}

func TestNoBackendIsUsageError(t *testing.T) {
	setFlags(t, "", "", "", false)
	var out, errb bytes.Buffer
	if code := run(context.Background(), &out, &errb); code != 2 {
		t.Errorf("exit %d without any BMC flag, want 2", code)
	}
}
