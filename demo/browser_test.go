package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDemoInChromium is the shopper's whole journey in a real browser against
// the demo stack: a guest cart in the sandbox Magento, the handoff to the
// secure origin, the checkout pages, payment with the sandbox widget, and the
// confirmation page showing the Magento order number that magento-bridge
// placed. Screenshots of every page are saved under .artifacts/demo-e2e/.
func TestDemoInChromium(t *testing.T) {
	d := startDemo(t)
	dir := filepath.Join("..", ".artifacts", "demo-e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cards []string // the first ones are declined
		bank  bool     // the sandbox 3-D Secure page asks for approval
	}{
		{name: "ok", cards: []string{"4242 4242 4242 4242"}},
		{name: "3ds", cards: []string{"4000 0027 6000 3184"}, bank: true},
		{name: "insufficient-funds", cards: []string{"4000 0000 0000 9995", "4242 4242 4242 4242"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &browser{t: t, ctx: newBrowser(t), dir: dir, name: tt.name}
			masked := guestCart(t, d.l)
			b.do("hand off", chromedp.Navigate("http://"+d.l.edge+"/checkout/start?cart="+masked), chromedp.WaitVisible(chromedp.ID("email")))
			b.shot("1-details")
			b.do("fill details",
				chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
				chromedp.SendKeys(chromedp.ID("phone"), "+1 415 555 0123"),
				chromedp.SendKeys(chromedp.ID("firstname"), "Ada"),
				chromedp.SendKeys(chromedp.ID("lastname"), "Lovelace"),
				chromedp.SendKeys(chromedp.ID("street1"), "1 Main St"),
				chromedp.SendKeys(chromedp.ID("city"), "Los Angeles"),
				chromedp.SendKeys(chromedp.ID("region"), "CA"),
				chromedp.SendKeys(chromedp.ID("postcode"), "90001\r"), // Enter submits the address form
				chromedp.WaitVisible(chromedp.CSS(`input[name=method]`)),
			)
			b.shot("2-shipping")
			b.do("choose shipping", chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("card-number")))
			b.shot("3-payment")
			for i, card := range tt.cards {
				b.do("enter card "+card,
					chromedp.SetValue(chromedp.ID("card-number"), ""),
					chromedp.SendKeys(chromedp.ID("card-number"), card),
					chromedp.SendKeys(chromedp.ID("card-exp"), "1234"),
					chromedp.SendKeys(chromedp.ID("card-cvc"), "123"))
				if i < len(tt.cards)-1 {
					b.do("pay (declined)", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.CSS(`#errors p`)))
					if msg := b.text("#errors"); !strings.Contains(msg, "another card") {
						t.Errorf("decline message %q does not tell the shopper what to do", msg)
					}
					b.shot("4-declined")
					continue
				}
				if tt.bank {
					b.do("pay", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.ID("approve")))
					b.shot("4-bank")
					b.do("approve at the bank", chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.ID("confirm")))
				} else {
					b.do("pay", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.ID("confirm")))
				}
			}
			// Usually under a second; bounded generously because a payment whose
			// answer was lost settles through the reconciler (30 s) first.
			b.doWithin(2*time.Minute, "wait for the Magento order number", chromedp.WaitVisible(chromedp.CSS(`#order-number strong`)))
			order := b.text(`#order-number strong`)
			b.shot("5-confirmation")
			if !placedInMagento(t, d.l, order) {
				t.Errorf("the confirmation shows order %q, which the sandbox Magento does not have", order)
			}
		})
	}
}

// guestCart puts two products in a new guest cart, as a shopper on www does.
func guestCart(t *testing.T, l layout) string {
	t.Helper()
	masked, err := demoCart(context.Background(), "http://"+l.magento)
	if err != nil {
		t.Fatal(err)
	}
	return masked
}

// placedInMagento reports whether the sandbox Magento holds an invoiced order
// with this increment id.
func placedInMagento(t *testing.T, l layout, incrementID string) bool {
	t.Helper()
	resp, err := http.Get("http://" + l.magento + "/__sandbox/orders")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var orders []struct {
		IncrementID   string  `json:"increment_id"`
		GrandTotal    float64 `json:"grand_total"`
		TotalInvoiced float64 `json:"total_invoiced"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&orders); err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if o.IncrementID == incrementID && o.TotalInvoiced == o.GrandTotal && o.GrandTotal > 0 {
			return true
		}
	}
	return false
}

type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	name string
}

// newBrowser starts headless Chromium with a fresh profile, phone-sized.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		path = p
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
		chromedp.WindowSize(412, 915),
	)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(412, 915, chromedp.EmulateScale(1))); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	return ctx
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.doWithin(45*time.Second, what, steps...)
}

func (b *browser) doWithin(limit time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return v
}

func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, b.name+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}
