// Package browsertest runs end-to-end tests in headless Chromium (Debian's
// chromium package, driven with chromedp): it starts a browser with a fresh
// profile and the flags this machine needs, fails the test on any console
// error or uncaught exception (so pages must run clean under their
// Content-Security-Policy), and gives a Page with steps that save a
// screenshot when they fail.
//
// Chromium is required: a missing browser fails the test (`make deps`
// installs it; CHROMIUM_PATH points elsewhere).
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// DefaultPath is where Debian installs Chromium.
const DefaultPath = "/usr/bin/chromium"

// Options configure Start. The zero value gives a phone-sized window.
type Options struct {
	Width, Height int64
	// Expected reports console entries a test causes on purpose (for
	// example a 401 it provokes); they do not fail the test.
	Expected func(*cdplog.Entry) bool
}

// Start launches headless Chromium with a fresh profile and returns its
// context; the browser stops when the test ends, and every unexpected console
// error or uncaught exception seen meanwhile fails the test.
func Start(t *testing.T, o Options) context.Context {
	t.Helper()
	if o.Width == 0 {
		o.Width, o.Height = 412, 915
	}
	path := os.Getenv("CHROMIUM_PATH")
	if path == "" {
		path = DefaultPath
	}
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("Chromium is required at %s (make deps installs it; CHROMIUM_PATH overrides): %v", path, err)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(int(o.Width), int(o.Height)),
	)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(o.Width, o.Height, chromedp.EmulateScale(1))); err != nil {
		acancel()
		t.Fatalf("start Chromium: %v", err)
	}
	var (
		mu       sync.Mutex
		problems []string
		wg       sync.WaitGroup
	)
	entries, exceptions := chromedp.Events(ctx, cdplog.EntryAdded), chromedp.Events(ctx, runtime.ExceptionThrown)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev, err := range entries {
			if err != nil {
				return
			}
			if e := ev.Entry; e != nil && e.Level == cdplog.EntryLevelError && (o.Expected == nil || !o.Expected(e)) {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("console %s: %s %s", e.Source, e.Text, e.URL))
				mu.Unlock()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			if d := ev.ExceptionDetails; d != nil {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("exception: %s at %s:%d", d.Text, d.URL, d.LineNumber))
				mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	})); err != nil {
		cancel()
		acancel()
		t.Fatalf("enable the console log: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		acancel()
		wg.Wait()
		for _, p := range problems {
			t.Errorf("in the browser: %s", p)
		}
	})
	return ctx
}

// ArtifactsDir returns (creating it) the directory for a test's screenshots:
// $ARTIFACTS_DIR/sub, or .artifacts/sub at the module root.
func ArtifactsDir(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		wd, _ := os.Getwd()
		for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				dir = filepath.Join(d, ".artifacts")
				break
			}
		}
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Page is one browser tab driven by a test. Screenshots go to
// Dir/Name-<shot>.png.
type Page struct {
	T    *testing.T
	Ctx  context.Context
	Dir  string
	Name string
}

// Do runs steps within 45 seconds, failing the test with a screenshot when
// they fail.
func (p *Page) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	p.DoWithin(45*time.Second, what, steps...)
}

// DoWithin is Do with another limit.
func (p *Page) DoWithin(limit time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(p.Ctx, chromedp.Location())
		p.Shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		p.T.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// Text returns the visible text of the first element matching the CSS
// selector sel.
func (p *Page) Text(sel string) string {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.T.Fatalf("read %s: %v", sel, err)
	}
	return v
}

// Shot saves a full-page screenshot.
func (p *Page) Shot(name string) {
	p.T.Helper()
	b, err := chromedp.Run(p.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.T.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(p.Dir, p.Name+"-"+name+".png")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.T.Fatal(err)
	}
	p.T.Logf("screenshot: %s", path)
}
