package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/magefleet/platform/internal/browsertest"
)

// TestDemoInChromium is the shopper's whole journey in a real browser against
// the demo stack: a guest cart in the sandbox Magento, the handoff to the
// secure origin, the checkout pages, payment with the sandbox widget, and the
// confirmation page showing the Magento order number that magento-bridge
// placed. Screenshots of every page are saved under .artifacts/demo-e2e/.
func TestDemoInChromium(t *testing.T) {
	d := startDemo(t)
	dir := browsertest.ArtifactsDir(t, "demo-e2e")
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
			b := &browsertest.Page{T: t, Ctx: browsertest.Start(t, browsertest.Options{}), Dir: dir, Name: tt.name}
			masked := guestCart(t, d.l)
			b.Do("hand off", chromedp.Navigate("http://"+d.l.edge+"/checkout/start?cart="+masked), chromedp.WaitVisible(chromedp.ID("email")))
			b.Shot("1-details")
			b.Do("fill details",
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
			b.Shot("2-shipping")
			b.Do("choose shipping", chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("card-number")))
			b.Shot("3-payment")
			for i, card := range tt.cards {
				b.Do("enter card "+card,
					chromedp.SetValue(chromedp.ID("card-number"), ""),
					chromedp.SendKeys(chromedp.ID("card-number"), card),
					chromedp.SendKeys(chromedp.ID("card-exp"), "1234"),
					chromedp.SendKeys(chromedp.ID("card-cvc"), "123"))
				if i < len(tt.cards)-1 {
					b.Do("pay (declined)", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.CSS(`#errors p`)))
					if msg := b.Text("#errors"); !strings.Contains(msg, "another card") {
						t.Errorf("decline message %q does not tell the shopper what to do", msg)
					}
					b.Shot("4-declined")
					continue
				}
				if tt.bank {
					b.Do("pay", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.ID("approve")))
					b.Shot("4-bank")
					b.Do("approve at the bank", chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.ID("confirm")))
				} else {
					b.Do("pay", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.ID("confirm")))
				}
			}
			// Usually under a second; bounded generously because a payment whose
			// answer was lost settles through the reconciler (30 s) first.
			b.DoWithin(2*time.Minute, "wait for the Magento order number", chromedp.WaitVisible(chromedp.CSS(`#order-number strong`)))
			order := b.Text(`#order-number strong`)
			b.Shot("5-confirmation")
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
