package demosim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rackha/failover/bmc"
	"github.com/rackha/failover/bmc/simbmc"
	"github.com/rackha/failover/hypervisor"
	"github.com/rackha/failover/hypervisor/memhv"
	"github.com/rackha/failover/internal/demosim"
	"github.com/rackha/failover/watchdog"
)

// rawClient speaks HTTP to the socket directly.
func rawClient(path string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
}

type envelope struct {
	Result json.RawMessage
	Error  *struct {
		Kinds   []string
		Message string
	}
}

func TestMalformedRequests(t *testing.T) {
	b := newSimBMC(t, simbmc.DefaultConfig("blade-a"))
	h := newMemHV(t, memhv.DefaultConfig("blade-a"))
	path := serve(t, map[string]*simbmc.BMC{"blade-a": b}, map[string]*memhv.Hypervisor{"blade-a": h})
	hc := rawClient(path)
	for _, tc := range []struct {
		name, method, path, body string
		header                   [2]string
		status                   int
		kind, msg                string
	}{
		{"truncated JSON", "POST", "/v1/bmc/blade-a/set-power", `{"action":`, [2]string{}, 400, "demosim.protocol", "malformed request: unexpected EOF"},
		{"unknown field", "POST", "/v1/bmc/blade-a/set-power", `{"action":1,"force":true}`, [2]string{}, 400, "demosim.protocol", `unknown field "force"`},
		{"wrong type", "POST", "/v1/bmc/blade-a/arm", `{"timeout_ns":"30s"}`, [2]string{}, 400, "demosim.protocol", "timeout_ns"},
		{"two values", "POST", "/v1/bmc/blade-a/kick", `{} {}`, [2]string{}, 400, "demosim.protocol", "trailing data"},
		{"array for object", "POST", "/v1/hv/blade-a/state", `["vm1"]`, [2]string{}, 400, "demosim.protocol", "malformed request"},
		{"definition not base64", "POST", "/v1/hv/blade-a/start", `{"image":{"Name":"vm1","Definition":"<domain/>"}}`, [2]string{}, 400, "demosim.protocol", "base64"},
		{"oversized body", "POST", "/v1/hv/blade-a/start", `{"image":{"Name":"` + strings.Repeat("v", demosim.MaxRequestBytes) + `"}}`, [2]string{}, 413, "demosim.protocol", fmt.Sprintf("over %d bytes", demosim.MaxRequestBytes)},
		{"unknown operation", "POST", "/v1/bmc/blade-a/reboot", `{}`, [2]string{}, 404, "demosim.protocol", `no BMC operation "reboot"`},
		{"unknown server", "POST", "/v1/hv/blade-z/list", `{}`, [2]string{}, 404, "demosim.unknown-host", `no simulated hypervisor named "blade-z"`},
		{"GET", "GET", "/v1/bmc/blade-a/power-state", ``, [2]string{}, 404, "demosim.protocol", "no operation GET /v1/bmc/blade-a/power-state"},
		{"bad timeout", "POST", "/v1/bmc/blade-a/kick", `{}`, [2]string{"Demosim-Timeout-Ns", "-5"}, 400, "demosim.protocol", `Demosim-Timeout-Ns "-5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://demosim"+tc.path, strings.NewReader(tc.body))
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			var env envelope
			if err := json.Unmarshal(data, &env); err != nil || env.Error == nil {
				t.Fatalf("answer %q is not a JSON error (%v)", data, err)
			}
			if resp.StatusCode != tc.status || len(env.Error.Kinds) != 1 || env.Error.Kinds[0] != tc.kind || !strings.Contains(env.Error.Message, tc.msg) {
				t.Errorf("HTTP %d %+v, want %d, kind %s, a message containing %q", resp.StatusCode, *env.Error, tc.status, tc.kind, tc.msg)
			}
		})
	}
	// The server keeps serving, and nothing was carried out.
	c := bmcClient(t, path, "blade-a")
	if p, err := c.PowerState(ctx(t)); err != nil || p != bmc.PowerOn {
		t.Fatalf("PowerState after malformed requests: %v, %v; want on", p, err)
	}
	if vms, err := hvClient(t, path, "blade-a").List(ctx(t)); err != nil || len(vms) != 0 {
		t.Fatalf("List after malformed requests: %v, %v; want none", vms, err)
	}
	if _, err := hvClient(t, path, "blade-z").List(ctx(t)); !errors.Is(err, demosim.ErrUnknownHost) {
		t.Errorf("client of an unknown host: %v, want ErrUnknownHost", err)
	}
	if err := hvClient(t, path, "blade-a").Start(ctx(t), image(strings.Repeat("v", demosim.MaxRequestBytes))); !errors.Is(err, demosim.ErrProtocol) {
		t.Errorf("Start of an image over the request limit: %v, want ErrProtocol", err)
	}
}

// Every sentinel the engine checks survives the wire.
func TestSentinelsCrossTheWire(t *testing.T) {
	b := newSimBMC(t, simbmc.DefaultConfig("blade-a"))
	st := memhv.NewStorage()
	cfg := memhv.DefaultConfig("blade-a")
	cfg.Storage, cfg.Capacity = st, hypervisor.Capacity{MemoryMiB: 2048, CPUs: 4}
	h := newMemHV(t, cfg)
	path := serve(t, map[string]*simbmc.BMC{"blade-a": b}, map[string]*memhv.Hypervisor{"blade-a": h})
	c, hv := bmcClient(t, path, "blade-a"), hvClient(t, path, "blade-a")
	big := image("big")
	big.MemoryMiB = 4096
	checks := []struct {
		name string
		call func() error
		want []error
	}{
		{"kick before arm", func() error { return c.Kick(ctx(t)) }, []error{watchdog.ErrNotArmed}},
		{"arm 0 s", func() error { return c.Arm(ctx(t), 0, watchdog.ActionNone) }, []error{watchdog.ErrInvalidTimeout}},
		{"unknown power action", func() error { return c.SetPower(ctx(t), 9) }, []error{bmc.ErrUnsupported}},
		{"power answer lost (scripted)", func() error {
			b.FailPowerApplied(fmt.Errorf("answer lost: %w", bmc.ErrIndeterminate))
			defer b.FailPower(nil)
			return c.SetPower(ctx(t), bmc.PowerActionCycle)
		}, []error{bmc.ErrIndeterminate}},
		{"BMC unreachable", func() error {
			b.SetUnreachable(true)
			defer b.SetUnreachable(false)
			_, err := c.Readings(ctx(t))
			return err
		}, []error{bmc.ErrUnreachable}},
		{"state of unknown VM", func() error { _, err := hv.State(ctx(t), "nope"); return err }, []error{hypervisor.ErrNotFound}},
		{"start twice", func() error {
			if err := hv.Start(ctx(t), image("vm1")); err != nil {
				return err
			}
			return hv.Start(ctx(t), image("vm1"))
		}, []error{hypervisor.ErrAlreadyRunning}},
		{"no capacity", func() error { return hv.Start(ctx(t), big) }, []error{hypervisor.ErrNoCapacity}},
		{"bad image", func() error { img := image("bad"); img.Definition = nil; return hv.Start(ctx(t), img) }, []error{hypervisor.ErrBadImage}},
		{"checkpoint failed", func() error {
			h.FailCheckpoint(fmt.Errorf("disk full: %w", hypervisor.ErrCheckpointFailed))
			defer h.FailCheckpoint(nil)
			_, err := hv.Checkpoint(ctx(t), "vm1")
			return err
		}, []error{hypervisor.ErrCheckpointFailed}},
		{"host powered off", func() error {
			h.PowerOff()
			defer h.PowerOn()
			_, err := hv.FreeCapacity(ctx(t))
			return err
		}, []error{hypervisor.ErrUnreachable}},
	}
	for _, ck := range checks {
		err := ck.call()
		for _, w := range ck.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want one wrapping %v", ck.name, err, w)
			}
		}
		if err != nil && !strings.Contains(err.Error(), "blade-a") {
			t.Errorf("%s: %v does not name the server", ck.name, err)
		}
	}
}

func TestNewClientRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct{ path, name, want string }{
		{"", "blade-a", "empty socket path"},
		{"/tmp/" + strings.Repeat("d", 120), "blade-a", "over the 107"},
		{"/tmp/x.sock", "", "empty BMC name"},
	} {
		if _, err := demosim.NewBMC(tc.path, tc.name); !errors.Is(err, demosim.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewBMC(%.20q, %q): %v, want ErrInvalidArgument naming %q", tc.path, tc.name, err, tc.want)
		}
	}
	if _, err := demosim.NewServer(map[string]*simbmc.BMC{"a": nil}, nil); !errors.Is(err, demosim.ErrInvalidArgument) {
		t.Errorf("NewServer with a nil BMC: %v", err)
	}
}
