package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The live page of `failoverd demo` in Debian's chromium: the demo's
// first fault (power loss of s1) shows on the page within 2 s, s1's
// phase goes through fencing, starting and recovering, and s1's VMs move
// to its watcher s2. Screenshots of each step are test artifacts.
func TestDemoPageInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not installed (sh scripts/install-test-deps.sh): %v", err)
		}
		t.Skipf("chromium not installed (sh scripts/install-test-deps.sh): %v", err)
	}
	artifacts := os.Getenv("TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	const token = "demo-page-token-0123456789"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	cmd := exec.Command(needBinary(t), "demo", "-json", "-page-addr", addr, "-operator-token-file", tokenFile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill() //nolint:errcheck // its children die with it (Pdeathsig)
		cmd.Wait()         //nolint:errcheck // killed
		if t.Failed() {
			t.Logf("demo stderr:\n%s", stderr.String())
		}
	}()
	faults := make(chan time.Time, 4)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			var line struct {
				Type   string    `json:"type"`
				Server string    `json:"server"`
				Time   time.Time `json:"time"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Type == "fault" && line.Server == "s1" {
				faults <- line.Time
			}
		}
	}()

	// The page answers once the rack manager runs. Its certificate is
	// the demo's own CA's, which the test does not read: not checked.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: time.Second}
	url := "https://" + addr + "/"
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url+"state", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := insecure.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo's page did not answer within 20 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 800),
		chromedp.Flag("ignore-certificate-errors", true), chromedp.Flag("disable-dev-shm-usage", true))
	defer cancelAlloc()
	tctx, cancelTimeout := context.WithTimeout(actx, 90*time.Second)
	defer cancelTimeout()
	ctx, cancel := chromedp.NewContext(tctx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"?token="+token), chromedp.WaitVisible(`article[data-server="s1"] [data-fact="power"]`)); err != nil {
		t.Fatalf("opening the demo's page: %v", err)
	}
	shot := func(name string) {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		path := filepath.Join(artifacts, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	shot("demo-0-healthy.png")

	var faultAt time.Time
	select {
	case faultAt = <-faults:
	case <-time.After(30 * time.Second):
		t.Fatal("the demo injected no fault on s1 within 30 s")
	}
	// Sample the page: s1's phase and power, and who owns s1's VMs.
	type view struct {
		Phase  string            `json:"phase"`
		Trail  string            `json:"trail"`
		Power  string            `json:"power"`
		Owners map[string]string `json:"owners"`
	}
	const sample = `(() => {
		const c = document.querySelector('article[data-server="s1"]');
		const owners = {};
		for (const tr of document.querySelectorAll("#vms tr[data-vm^='s1-']")) owners[tr.dataset.vm] = tr.querySelector(".owner").textContent;
		const trail = c ? [...c.querySelectorAll(".trail .step")].map(s => s.textContent).join(" ") : "";
		return {trail, phase: c ? c.querySelector(".phase").textContent : "", power: c ? c.querySelector('[data-fact="power"] b').textContent : "", owners};
	})()`
	var phases []string // as the badge showed them
	var trail string    // the card's trail at the end
	var shown time.Time
	moved := false
	end := time.Now().Add(30 * time.Second)
	for time.Now().Before(end) {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[view](sample))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		if shown.IsZero() && (v.Power == "off" || v.Phase == "fencing") {
			shown = time.Now()
		}
		if v.Phase != "" && (len(phases) == 0 || phases[len(phases)-1] != v.Phase) {
			phases = append(phases, v.Phase)
			if v.Phase != "watching" || len(phases) > 1 {
				shot(fmt.Sprintf("demo-%d-%s.png", len(phases), v.Phase))
			}
		}
		trail = v.Trail
		moved = len(v.Owners) > 0
		for _, o := range v.Owners {
			moved = moved && o == "s2"
		}
		if moved && len(phases) > 1 && phases[len(phases)-1] == "watching" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if shown.IsZero() {
		t.Errorf("s1's power loss never showed on the page")
	} else if d := shown.Sub(faultAt); d > 2*time.Second {
		t.Errorf("s1's power loss showed %v after the fault, want within 2 s", d)
	} else {
		t.Logf("s1's power loss showed on the page %v after the fault", d.Round(time.Millisecond))
	}
	// A fence of a server already off is over within a redraw: the
	// badge may skip fencing; the card's trail keeps it.
	if !strings.Contains(trail, "fencing starting recovering") {
		t.Errorf("s1's phase trail on the page %q, want fencing, starting, recovering in turn", trail)
	}
	if got := strings.Join(phases, " "); !strings.Contains(got, "starting recovering watching") {
		t.Errorf("s1's phase badge showed %q, want starting, recovering, watching live", got)
	}
	if !moved {
		t.Errorf("s1's VMs not shown on s2")
	}
	shot("demo-9-after.png")

	// The rack manager's /metrics, behind the same token, parse with
	// Prometheus' text parser and tell the same story.
	req, _ := http.NewRequest(http.MethodGet, url+"metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := insecure.Do(req)
	if err != nil {
		t.Fatalf("scraping /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scraping /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	series := func(fam string, labels ...string) (float64, bool) {
		for _, m := range fams[fam].GetMetric() {
			ok := true
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				ok = ok && found
			}
			if ok {
				switch {
				case m.Gauge != nil:
					return m.GetGauge().GetValue(), true
				case m.Counter != nil:
					return m.GetCounter().GetValue(), true
				case m.Histogram != nil:
					return float64(m.GetHistogram().GetSampleCount()), true
				}
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		fam     string
		labels  []string
		atLeast float64
	}{
		{"failover_bmc_up", []string{"server", "s1"}, 1},
		{"failover_bmc_up", []string{"server", "s2"}, 1},
		{"failover_bmc_call_duration_seconds", []string{"server", "s1", "call", "readings"}, 1},
		{"failover_power_actions_total", []string{"server", "s1", "action", "on", "outcome", "ok"}, 1},
		{"failover_events_total", []string{"type", "backup-started"}, 3},
		{"failover_takeover_seconds", nil, 1},
	} {
		if v, ok := series(c.fam, c.labels...); !ok || v < c.atLeast {
			t.Errorf("/metrics %s%v = %v (present %v), want at least %v", c.fam, c.labels, v, ok, c.atLeast)
		}
	}
}
