package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ctsync/ctsync/tenants/graphsim"
)

// chromiumPath finds Debian's chromium. Missing, the test fails in CI
// (CI=true: .ci/run installs it) and skips elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed (apt-get install -y chromium): the status page test needs a headless browser"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// screenshotDir is $CTSYNC_SCREENSHOT_DIR, or the test's artifact
// directory (kept under -artifacts' output directory with go test
// -artifacts).
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("CTSYNC_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.ArtifactDir()
}

// TestStatusPageInChromium loads the daemon's status page in headless
// Chromium while a long first cycle runs (300 users per tenant, Graph's
// latency simulated), checks what a person looks for (the pairs, a
// progress bar, then the finished cycles and the parked user with its
// reason), checks that directory text cannot inject markup, and saves
// screenshots.
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	h := newHarness(t, setup{users: 300})
	// A source user whose mail a member of the target already has: a
	// conflict, parked with a reason naming both. Its name tries to inject
	// markup and terminal escapes.
	mail := "ines.conflict@" + h.src.Domain()
	h.addMember(h.dst, map[string]any{"displayName": "Target Member", "mail": mail, "userPrincipalName": "ines.member@" + h.dst.Domain()})
	h.addMember(h.src, map[string]any{"displayName": "Ines <script>alert(1)</script>\x1b[31m\nFAKE", "mail": mail, "userPrincipalName": "ines.conflict@" + h.src.Domain()})
	rz := h.sim.Realism()
	rz.Latency = graphsim.Latency{Median: 25 * time.Millisecond, P99: 60 * time.Millisecond}
	h.sim.SetRealism(rz)

	cfg, token := h.listenerConfig(nil)
	d := startDaemon(t, cfg, token)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // run as root in CI containers
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1400, 1000),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	dir := screenshotDir(t)

	// load navigates to the page and returns its visible text.
	load := func() string {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Navigate(d.url+"/")); err != nil {
			t.Fatalf("load the status page: %v", err)
		}
		text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		return text
	}
	shot := func(name string) string {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
		return path
	}
	// until reloads the page (every 300ms, at most limit) until js is true.
	until := func(js string, limit time.Duration, what string) string {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			text := load()
			ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](js))
			if err != nil {
				t.Fatalf("evaluate %s: %v", js, err)
			}
			if ok {
				return text
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s; last text:\n%s\nlog:\n%s", what, text, d.log)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}

	// While the first cycle applies its changes: a determinate bar, a
	// fifth of the way or more so the screenshot shows it.
	text := until(`Array.from(document.querySelectorAll("progress.cycle[max]")).some(p => p.value >= p.max / 5 && p.value < p.max)`,
		2*time.Minute, "a running cycle's progress bar")
	for _, want := range []string{"contoso-to-fabrikam", "fabrikam-to-contoso", "contoso → fabrikam", "running: apply", "changes applied", "users read"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page during the cycle lacks %q:\n%s", want, text)
		}
	}
	shot("status-running.png")

	// After it: the cycles in the recent list, the parked user with its
	// reason, no bar.
	text = until(`document.querySelector("progress.cycle") === null && document.querySelectorAll("#recent tr").length >= 3 && document.querySelector("#parked") !== null`,
		3*time.Minute, "finished cycles and the parked user")
	for _, want := range []string{"Recent cycles", "Parked users", mail, "waiting"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page after the cycle lacks %q:\n%s", want, text)
		}
	}
	shot("status-done.png")

	// Directory text is data, never markup: the page has no script
	// element, and no raw control character reaches it.
	scripts, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("script").length`))
	if err != nil || scripts != 0 {
		t.Errorf("script elements on the page: %d (%v)", scripts, err)
	}
	if strings.ContainsAny(text, "\x1b\x00") {
		t.Errorf("a control character reached the page: %q", text)
	}
	// Nothing is fetched from elsewhere: no CDN, font or script.
	refs, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("[src],[href],link,img,iframe,object,embed").length`))
	if err != nil || refs != 0 {
		t.Errorf("elements referring to other resources: %d (%v)", refs, err)
	}
	fmt.Fprintf(os.Stderr, "status page screenshots in %s\n", dir)
}
