package rackpage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rackha/failover"
	"github.com/rackha/failover/failovertest"
	"github.com/rackha/failover/promfailover"
	"github.com/rackha/failover/rack/rackpage"
)

// browser starts Debian's chromium headless (never a downloaded one),
// with a temporary profile. With CI=true a missing chromium fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not installed (sh scripts/install-test-deps.sh): %v", err)
		}
		t.Skipf("chromium not installed (sh scripts/install-test-deps.sh): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI containers
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tctx, cancelTimeout := context.WithTimeout(actx, time.Minute)
	ctx, cancel := chromedp.NewContext(tctx)
	t.Cleanup(func() { cancel(); cancelTimeout(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// serve serves h until the test ends, closing the browser's open stream
// first (httptest's Close waits for it).
func serve(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Listener.Close()
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// artifacts is where screenshots go: $TEST_ARTIFACTS, else a temporary
// directory (logged).
func artifacts(t *testing.T) string {
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// text returns the text of the first element matching sel, or "" when
// there is none (no waiting).
func text(ctx context.Context, sel string) (string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent : ""; })()`, sel)))
}

// waitText waits up to within for sel's text to satisfy ok; it returns
// how long that took.
func waitText(t *testing.T, ctx context.Context, sel string, within time.Duration, ok func(string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		s, err := text(ctx, sel)
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		if ok(s) {
			return time.Since(start)
		}
		last = s
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s still %q after %v", sel, last, within)
	return 0
}

// A power loss on blade-1 in a simulated rack (real monitors, rack
// manager and store on a simulated clock, stepped in real time): the
// browser shows the BMC's power off within 2 s, the phase going through
// fencing, starting and recovering, and blade-1's VMs owned by its
// watcher blade-2.
func TestBrowserFollowsATakeover(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	var mu sync.Mutex
	var page *rackpage.Page
	var phases []string
	cfg := failovertest.DefaultConfig()
	// A fence of a server already off takes as long as any (it is
	// 200 ms by default: fencing would end within the step it began).
	cfg.Latency.PowerNoop = cfg.Latency.Power
	cfg.OnEvent = func(ev failover.Event) {
		mu.Lock()
		defer mu.Unlock()
		if page != nil {
			page.Record(ev)
		}
		if ph, ok := promfailover.PhaseOf(ev); ok && ev.Server == "blade-1" && (len(phases) == 0 || phases[len(phases)-1] != ph) {
			phases = append(phases, ph)
		}
	}
	r, err := failovertest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := newPage(t, rackpage.Config{Local: r.Manager, Images: r.Store, MonitorEvents: true, Token: []byte(token), Interval: 200 * time.Millisecond})
	mu.Lock()
	page = p
	mu.Unlock()
	srv := serve(t, p)
	bg := context.Background()
	r.Run(bg, 3)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?token="+token),
		chromedp.WaitVisible(`article[data-server="blade-1"] [data-fact="power"]`)); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	blade1 := `article[data-server="blade-1"]`
	waitText(t, ctx, blade1+" .phase", 2*time.Second, func(s string) bool { return s == "watching" })
	screenshot(t, ctx, dir, "takeover-0-healthy.png")

	if err := r.Inject(failovertest.Fault{Kind: failovertest.PowerLoss, Server: "blade-1"}); err != nil {
		t.Fatal(err)
	}
	r.Step(bg) // the next poll reads the power off
	took := waitText(t, ctx, blade1+` [data-fact="power"] b`, 2*time.Second, func(s string) bool { return s == "off" })
	t.Logf("power off shown %v after the poll that read it", took)
	screenshot(t, ctx, dir, "takeover-1-power-off.png")

	// Step the rack; each phase blade-1 enters must show on the page
	// within 2 s before the rack goes on.
	var shown []string
	for i := 0; i < 200 && !r.Quiet(); i++ {
		r.Step(bg)
		mu.Lock()
		cur := append([]string(nil), phases...)
		mu.Unlock()
		if len(cur) > len(shown)+1 {
			t.Fatalf("blade-1 went through phases %v within one step: the page cannot show each", cur[len(shown):])
		}
		if len(cur) > len(shown) {
			ph := cur[len(shown)]
			waitText(t, ctx, blade1+" .phase", 2*time.Second, func(s string) bool { return s == ph })
			screenshot(t, ctx, dir, fmt.Sprintf("takeover-%d-%s.png", len(shown)+2, ph))
			shown = append(shown, ph)
		}
	}
	if got := strings.Join(shown, " "); got != "fencing starting recovering watching" {
		t.Errorf("blade-1's phases shown %q, want fencing, starting, recovering, watching", got)
	}
	// Every VM that was blade-1's runs on blade-2 now, as the page says.
	var owners map[string]string
	deadline := time.Now().Add(2 * time.Second)
	for {
		owners, err = chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll("#vms tr[data-vm]")].map(tr => [tr.dataset.vm, tr.querySelector(".owner").textContent + "<" + tr.cells[2].textContent]))`))
		if err != nil {
			t.Fatal(err)
		}
		moved := 0
		for _, o := range owners {
			if o == "blade-2<blade-1" {
				moved++
			}
		}
		if moved == cfg.VMsPerServer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("page's VMs %v: want %d moved from blade-1 to blade-2", owners, cfg.VMsPerServer)
		}
		time.Sleep(50 * time.Millisecond)
	}
	screenshot(t, ctx, dir, "takeover-9-settled.png")
	n, err := text(ctx, "#events li")
	if err != nil || n == "" {
		t.Errorf("no event listed on the page (%v)", err)
	}
}

// The page at 50 servers: every card renders, the stream's state is
// redrawn within a second, and a screenshot shows it.
func TestBrowserRendersFiftyServers(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	l, bmcs := newLocal(t, 50)
	bg := context.Background()
	l.Poll(bg)
	l.Poll(bg)
	bmcs["s17"].LosePower()
	l.Poll(bg)
	p := newPage(t, rackpage.Config{Local: l, Token: []byte(token), MonitorEvents: true})
	p.Record(failover.Event{Time: time.Now(), Type: failover.EventDetected, Server: "s17", Peer: "s18", Cause: failover.CauseNoPower})
	srv := serve(t, p)
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?token="+token),
		chromedp.WaitVisible(`article[data-server="s50"]`)); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	t.Logf("50 servers rendered %v after navigation", time.Since(start))
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("article.server").length`))
	if err != nil {
		t.Fatal(err)
	}
	if cards != 50 {
		t.Errorf("%d server cards, want 50", cards)
	}
	waitText(t, ctx, `article[data-server="s17"] [data-fact="power"] b`, time.Second, func(s string) bool { return s == "off" })
	waitText(t, ctx, `article[data-server="s17"] .phase`, time.Second, func(s string) bool { return s == "fencing" })
	sparks, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.spark path.line").length`))
	if err != nil {
		t.Fatal(err)
	}
	if sparks < 50 {
		t.Errorf("%d sparklines drawn, want at least one per server", sparks)
	}
	// At 50 servers the healthy ones' readings fold; the failed one's
	// stay open.
	open, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("details.readings-box[open]")].map(d => d.dataset.server)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0] != "s17" {
		t.Errorf("readings open for %v, want only failed s17's", open)
	}
	// The stream keeps redrawing: the render count grows.
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.rendered`))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	after, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.rendered`))
	if err != nil {
		t.Fatal(err)
	}
	if before == after {
		t.Errorf("page not redrawn in 1.2 s (render count %s)", after)
	}
	screenshot(t, ctx, dir, "rack-50-servers.png")
}
