package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/checkout-service/internal/accesstoken"
	"github.com/magefleet/platform/checkout-service/internal/checkout"
	"github.com/magefleet/platform/checkout-service/internal/checkouthttp"
	"github.com/magefleet/platform/checkout-service/internal/checkoutstore"
	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/magentocarts"
	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/checkout-service/internal/web"
	"github.com/magefleet/platform/internal/browsertest"
	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/internal/httpserver"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
)

// stack is the platform's checkout side as a shopper reaches it.
type stack struct {
	sandbox *magentosandbox.Sandbox
	mc      *magento.Client
	db      *sql.DB
	svc     *checkout.Service
	url     string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	sb := magentosandbox.New(magentosandbox.Options{})
	msrv := httptest.NewServer(sb.Handler())
	t.Cleanup(msrv.Close)
	mcfg := magento.DefaultConfig()
	mcfg.BaseURL, mcfg.AdminUsername, mcfg.AdminPassword = msrv.URL, "admin", config.Secret("admin123")
	mc, err := magento.New(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	db := databasetest.New(t, os.DirFS("../../../migrations"))
	rdb, prefix := cachetest.New(t)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))

	hs, err := httpserver.New(config.DefaultHTTP("127.0.0.1:0"), log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(hs)
	base := "http://" + srv.Listener.Addr().String()

	caps := gateway.Capabilities{Methods: []gateway.Method{gateway.Card}, Currencies: []string{"USD"}}
	var gws []gateway.Gateway
	var rgws []routing.Gateway
	sandboxes := map[string]*sandboxgw.Gateway{}
	for _, name := range []string{"sandbox-a", "sandbox-b"} {
		// SettleAfter only affects tok_sandbox_timeout: long enough that the
		// "Confirming your payment" page is still there when the test reads
		// it on a slow machine, well inside waitOrder's 45 s.
		sb := sandboxgw.New(sandboxgw.Config{Name: name, Capabilities: caps, SuccessRate: 1, FeeBps: 290, FeeFixed: 30,
			SettleAfter: 10 * time.Second, ActionURL: base + "/sandbox/3ds", WebhookSecret: "whsec_" + name}, rdb, prefix, nil)
		sandboxes[name] = sb
		gws = append(gws, sb)
		rgws = append(rgws, routing.Gateway{Name: name, Enabled: true, Caps: caps, Fees: routing.FeeModel{"default": {PercentBps: 290, Fixed: 30}}})
	}
	router, err := routing.NewRouter(rgws)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := checkout.New(checkout.Config{Capture: true, Country: "US", ReturnURL: base + "/checkout/return?payment={payment}",
		ReconcileAfter: time.Second,
		DefaultRules:   []byte(`{"default_selection": {"type": "priority", "data": ["sandbox-a", "sandbox-b"]}, "rules": []}`)},
		checkout.Deps{Carts: magentocarts.New(mc), Sessions: checkoutstore.NewSessions(rdb, prefix), Store: checkoutstore.New(db),
			Gateways: gws, Router: router, Stats: routing.NewStats(rdb, prefix, routing.StatsConfig{}, time.Now),
			Redis: rdb, Prefix: prefix, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.DefaultConfig()
	cfg.PublicBaseURL, cfg.AllowedReturnOrigins, cfg.CartURL = base, []string{msrv.URL}, msrv.URL+"/checkout/cart/"
	cfg.PollInterval = 500 * time.Millisecond
	pages, err := web.New(cfg, web.Deps{Sessions: svc, Payments: svc, Carts: magentocarts.New(mc), Actions: web.SandboxActions(svc),
		Tokens: otpTokens{}, Redis: rdb, Prefix: prefix, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	// The JSON API beside the pages, as setup.go wires them: no route clashes.
	(&checkouthttp.Handler{Svc: svc, Sandboxes: sandboxes}).Register(hs.Engine())
	pages.Register(hs.Engine())
	registerFakeOTP(hs.Engine(), mc)
	srv.Start()
	t.Cleanup(srv.Close)
	s := &stack{sandbox: sb, mc: mc, db: db, svc: svc, url: base}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.bridge(ctx, t) }()
	wg.Add(1)
	go func() { defer wg.Done(); _ = svc.RunReconciler(ctx, 200*time.Millisecond) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return s
}

// bridge does what magento-bridge does with a captured payment, for this
// test: place the Magento order from the cart with an offline method and
// record its number on the payment. (The bridge is its own service; its
// internal packages cannot be imported from here.)
func (s *stack) bridge(ctx context.Context, t *testing.T) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM payments WHERE status = 'captured' AND magento_order_id IS NULL`)
		if err != nil {
			continue
		}
		var ids []string
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
		for _, id := range ids {
			p, err := s.svc.Payment(ctx, id)
			if err != nil {
				continue
			}
			ref := magento.GuestCart(p.Snapshot.MaskedQuoteID)
			if p.CartKind == checkout.KindCustomer {
				ref = magento.AdminCart(p.QuoteID)
			}
			oid, err := s.mc.PlaceOrder(ctx, ref, magento.PlaceOrderRequest{
				Email: p.Snapshot.Email, PaymentMethod: magento.Payment{Method: "purchaseorder", PONumber: p.Gateway + " " + p.GatewayReference}})
			if err != nil {
				t.Logf("bridge: place order for %s: %v", id, err)
				continue
			}
			o, err := s.mc.Order(ctx, oid)
			if err != nil {
				continue
			}
			if _, err := s.db.ExecContext(ctx, `UPDATE payments SET magento_order_id = ?, magento_increment_id = ? WHERE id = ?`, oid, o.IncrementID, id); err != nil {
				t.Logf("bridge: record order: %v", err)
			}
		}
	}
}

// artifacts returns the directory screenshots go to: $ARTIFACTS_DIR, or
// .artifacts/web-e2e at the repository root (ignored by git).
// newBrowser starts headless Chromium, phone-sized; a wrong one-time code is a
// 401 the page handles (the customer test types one on purpose).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Start(t, browsertest.Options{Expected: func(e *cdplog.Entry) bool {
		return strings.HasSuffix(e.URL, "/auth/v1/otp/verify") && strings.Contains(e.Text, "401")
	}})
}

// shopper is a browser tab with the steps a shopper takes.
type shopper struct{ browsertest.Page }

// checkout hands a fresh sandbox guest cart off to the secure checkout and
// fills the details and shipping pages with the keyboard.
func (s *shopper) checkout(st *stack) string {
	s.T.Helper()
	cart, err := st.sandbox.CreateGuestCartWithItems(
		magentosandbox.CartLine{SKU: "MH01-XS-Black", Qty: 1}, magentosandbox.CartLine{SKU: "24-MB01", Qty: 2})
	if err != nil {
		s.T.Fatal(err)
	}
	s.Do("hand off", chromedp.Navigate(st.url+"/checkout/start?cart="+cart.MaskedID), chromedp.WaitVisible(chromedp.ID("email")))
	s.Shot("1-details")
	s.Do("fill details",
		chromedp.SendKeys(chromedp.ID("email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("phone"), "+1 555 010 0199"),
		chromedp.SendKeys(chromedp.ID("firstname"), "Ada"),
		chromedp.SendKeys(chromedp.ID("lastname"), "Lovelace"),
		chromedp.SendKeys(chromedp.ID("street1"), "6146 Honey Bluff Parkway"),
		chromedp.SendKeys(chromedp.ID("city"), "Los Angeles"),
		chromedp.SendKeys(chromedp.ID("region"), "CA"),
		chromedp.SendKeys(chromedp.ID("postcode"), "90001\r"), // Enter submits, as on a keyboard
		chromedp.WaitVisible(chromedp.CSS(`input[name=method]`)),
	)
	s.Shot("2-shipping")
	// Keyboard only: the arrow key moves the radio group to Best Way, Enter on
	// the focused button submits.
	s.Do("choose shipping", chromedp.SendKeys(chromedp.CSS(`input[name=method]:checked`), kb.ArrowDown))
	if v, _ := chromedp.Run(s.Ctx, chromedp.Evaluate[string](`document.activeElement.value + " " + document.querySelector("input[name=method]:checked").value`)); v != "tablerate|bestway tablerate|bestway" {
		s.T.Errorf("after ArrowDown: focused and chosen %q; want tablerate|bestway", v)
	}
	s.Do("continue", chromedp.SendKeys(chromedp.CSS(`form button[type=submit]`), kb.Enter), chromedp.WaitVisible(chromedp.ID("card-number")))
	return cart.MaskedID
}

func (s *shopper) pay(card string) {
	s.T.Helper()
	s.Do("enter card "+card, chromedp.SendKeys(chromedp.ID("card-number"), card),
		chromedp.SendKeys(chromedp.ID("card-exp"), "1234"), chromedp.SendKeys(chromedp.ID("card-cvc"), "123"))
}

// waitOrder waits for the confirmation page to show the Magento order number.
func (s *shopper) waitOrder() string {
	s.T.Helper()
	s.Do("wait for the order number", chromedp.WaitVisible(chromedp.CSS(`#order-number strong`)))
	return s.Text(`#order-number strong`)
}

func TestCheckoutInChromium(t *testing.T) {
	st := newStack(t)
	dir := browsertest.ArtifactsDir(t, "web-e2e")

	t.Run("pays with tok_sandbox_ok", func(t *testing.T) {
		s := &shopper{browsertest.Page{T: t, Ctx: newBrowser(t), Dir: dir, Name: "ok"}}
		s.checkout(st)
		// The back button keeps the session: the shipping page comes back with
		// the chosen method. (chromedp's DOM tracking does not follow history
		// navigation, so the page is read with plain JavaScript, then reloaded.)
		// The pages are no-store, so back fetches the shipping page again:
		// wait until it is the loaded document.
		s.DoWithin(20*time.Second, "go back", eval(`setTimeout(function () { history.back(); }, 0)`),
			untilEval(`location.pathname.endsWith("/shipping") && document.readyState === "complete"`))
		back, err := chromedp.Run(s.Ctx, chromedp.Evaluate[string](`location.pathname + " " + ((document.querySelector("input[name=method]:checked") || {}).value || "none")`))
		if err != nil || !strings.HasSuffix(back, "/shipping tablerate|bestway") {
			t.Errorf("after the back button: %q (%v); want the shipping page with the chosen method", back, err)
		}
		s.Do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.choices`)))
		s.Do("go forward", chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("card-number")))
		// Magento's numbers: 52 + 2 × 34 = 120, Best Way free from 100, 8.25% California tax = 9.90.
		total, _ := chromedp.Run(s.Ctx, chromedp.TextContent(chromedp.CSS("#grand-total")))
		if total != "$129.90" {
			t.Errorf("grand total shown %q; want Magento's $129.90", total)
		}
		if !strings.Contains(s.Text("#pay-button"), total) {
			t.Errorf("pay button %q does not name the total %s", s.Text("#pay-button"), total)
		}
		s.Shot("3-payment")
		// What the browser transferred for this page (document, CSS, JS).
		weight, err := chromedp.Run(s.Ctx, chromedp.Evaluate[float64](`performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource")).reduce(function (n, e) { return n + (e.transferSize || e.encodedBodySize || 0); }, 0)`))
		t.Logf("payment page transfer in Chromium: %.0f bytes", weight)
		if err != nil || weight <= 0 || weight > 100*1024 {
			t.Errorf("payment page transferred %.0f bytes (%v); want under 100 KB", weight, err)
		}
		s.pay("4242 4242 4242 4242")
		s.Do("pay (double click)", chromedp.DoubleClick(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.ID("confirm")))
		s.Shot("4-confirmation-pending")
		order := s.waitOrder()
		s.Shot("5-confirmation")
		t.Logf("Magento order %s", order)
		if got := s.Text("#pay-status"); !strings.Contains(got, "Payment received") || !strings.Contains(got, total) {
			t.Errorf("payment status %q; want received and %s", got, total)
		}
		var n int
		if err := st.db.QueryRow(`SELECT COUNT(*) FROM payments`).Scan(&n); err != nil || n != 1 {
			t.Errorf("payments after a double click: %d (%v); want 1", n, err)
		}
		if orders := st.sandbox.Orders(); len(orders) != 1 || orders[0].IncrementID != order {
			t.Errorf("Magento orders %d; want exactly the one shown (%s)", len(orders), order)
		}
	})

	t.Run("3-D Secure with tok_sandbox_3ds", func(t *testing.T) {
		s := &shopper{browsertest.Page{T: t, Ctx: newBrowser(t), Dir: dir, Name: "3ds"}}
		s.checkout(st)
		s.pay("4000 0027 6000 3184")
		s.Do("pay", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.ID("approve")))
		s.Shot("3-bank")
		s.Do("approve", chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.ID("confirm")))
		order := s.waitOrder()
		s.Shot("4-confirmation")
		t.Logf("Magento order %s after 3-D Secure", order)
	})

	t.Run("insufficient funds, then another card", func(t *testing.T) {
		s := &shopper{browsertest.Page{T: t, Ctx: newBrowser(t), Dir: dir, Name: "declined"}}
		s.checkout(st)
		s.pay("4000 0000 0000 9995")
		s.Do("pay", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.CSS(`#errors p`)))
		msg := s.Text("#errors")
		if !strings.Contains(msg, "enough available") || !strings.Contains(msg, "another card") || !strings.Contains(msg, "Nothing was charged") {
			t.Errorf("decline message %q does not say what happened and what to do", msg)
		}
		focused, _ := chromedp.Run(s.Ctx, chromedp.Evaluate[string](`document.activeElement && document.activeElement.id`))
		if focused != "errors" {
			t.Errorf("focus is on %q after the decline; want the error summary (announced by screen readers)", focused)
		}
		s.Shot("3-declined")
		// Keyboard only: Enter in the card field pays.
		s.Do("clear the card", eval(`document.getElementById("card-number").value = ""`))
		s.pay("4242 4242 4242 4242")
		s.Do("pay again", chromedp.SendKeys(chromedp.ID("card-cvc"), kb.Enter), chromedp.WaitVisible(chromedp.ID("confirm")))
		order := s.waitOrder()
		s.Shot("4-confirmation")
		t.Logf("Magento order %s after a decline", order)
	})

	t.Run("the cart changes in another tab before paying", func(t *testing.T) {
		s := &shopper{browsertest.Page{T: t, Ctx: newBrowser(t), Dir: dir, Name: "changed"}}
		masked := s.checkout(st)
		before, _ := chromedp.Run(s.Ctx, chromedp.TextContent(chromedp.CSS("#grand-total")))
		// The shopper adds a watch on www in another tab.
		if _, err := st.mc.AddItem(context.Background(), magento.GuestCart(masked), "24-WG01", 1); err != nil {
			t.Fatal(err)
		}
		s.pay("4242 4242 4242 4242")
		s.Do("pay", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.CSS(`#notice p`)))
		after, _ := chromedp.Run(s.Ctx, chromedp.TextContent(chromedp.CSS("#grand-total")))
		if notice := s.Text("#notice"); !strings.Contains(notice, "changed") || after == before {
			t.Errorf("after the cart changed: notice %q, total %s → %s; want the new total shown before charging", notice, before, after)
		}
		var n int
		if err := st.db.QueryRow(`SELECT COUNT(*) FROM payments WHERE order_snapshot LIKE ?`, "%"+masked+"%").Scan(&n); err != nil || n != 0 {
			t.Errorf("%d payments (%v) before the shopper saw the new total; want none", n, err)
		}
		s.Shot("3-new-totals")
		s.Do("clear the card", eval(`document.getElementById("card-number").value = ""`))
		s.pay("4242 4242 4242 4242")
		s.Do("pay the new total", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.ID("confirm")))
		if got := s.Text("#pay-status"); !strings.Contains(got, after) {
			t.Errorf("paid %q; want the new total %s", got, after)
		}
		s.waitOrder()
	})

	t.Run("the bank times out, then the payment settles", func(t *testing.T) {
		s := &shopper{browsertest.Page{T: t, Ctx: newBrowser(t), Dir: dir, Name: "timeout"}}
		s.checkout(st)
		s.pay("4000 0000 0000 0259") // tok_sandbox_timeout: charged, but the answer is lost
		s.Do("pay", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.ID("confirm")))
		if h := s.Text("h1"); h != "Confirming your payment" {
			t.Errorf("heading %q while the outcome is unknown; want Confirming your payment", h)
		}
		s.Shot("3-confirming")
		order := s.waitOrder() // the reconciler finds the charge; the page reloads by itself
		s.Shot("4-confirmation")
		t.Logf("Magento order %s after an unknown outcome", order)
		var n int
		if err := st.db.QueryRow(`SELECT COUNT(*) FROM payment_attempts a JOIN payments p ON p.id = a.payment_id WHERE p.magento_increment_id = ?`, order).Scan(&n); err != nil || n != 1 {
			t.Errorf("%d gateway attempts (%v); want 1 (an unknown outcome never cascades)", n, err)
		}
	})

	t.Run("customer logs in by code for their Magento cart", func(t *testing.T) {
		ctx := context.Background()
		tok, err := st.mc.CustomerToken(ctx, "roni_cost@example.com", "roni_cost3@example.com")
		if err != nil {
			t.Fatal(err)
		}
		quote, err := st.mc.CreateCustomerCart(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.mc.AddItem(ctx, magento.CustomerCart(tok, quote), "24-MB01", 1); err != nil {
			t.Fatal(err)
		}
		s := &shopper{browsertest.Page{T: t, Ctx: newBrowser(t), Dir: dir, Name: "customer"}}
		// What head-snippet.html sends for a logged-in customer: the numeric quote id.
		s.Do("hand off", chromedp.Navigate(fmt.Sprintf("%s/checkout/start?cart=%d", st.url, quote)), chromedp.WaitVisible(chromedp.ID("otp-id")))
		s.Shot("1-login")
		s.Do("ask for a code", chromedp.SendKeys(chromedp.ID("otp-id"), "+1 555 010 0199\r"), chromedp.WaitVisible(chromedp.ID("otp-code")))
		s.Do("wrong code", chromedp.SendKeys(chromedp.ID("otp-code"), "000000\r"),
			until(`document.getElementById("otp-msg").textContent.indexOf("didn't match") >= 0`))
		s.Shot("2-wrong-code")
		s.Do("right code", eval(`document.getElementById("otp-code").value = ""`), chromedp.SendKeys(chromedp.ID("otp-code"), fakeCode+"\r"),
			chromedp.WaitVisible(chromedp.ID("street1")))
		s.Shot("3-details")
		if email, _ := chromedp.Run(s.Ctx, chromedp.Value(chromedp.ID("email"))); email != "roni_cost@example.com" {
			t.Errorf("email field %q; want the customer's email from Magento", email)
		}
		s.Do("fill details",
			chromedp.SendKeys(chromedp.ID("phone"), "+1 555 010 0199"),
			chromedp.SendKeys(chromedp.ID("firstname"), "Veronica"),
			chromedp.SendKeys(chromedp.ID("lastname"), "Costello"),
			chromedp.SendKeys(chromedp.ID("street1"), "6146 Honey Bluff Parkway"),
			chromedp.SendKeys(chromedp.ID("city"), "Calder"),
			chromedp.SendKeys(chromedp.ID("region"), "MI"),
			chromedp.SendKeys(chromedp.ID("postcode"), "49628\r"),
			chromedp.WaitVisible(chromedp.CSS(`input[name=method]`)),
			chromedp.Click(chromedp.CSS(`form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("card-number")))
		s.pay("4242 4242 4242 4242")
		s.Do("pay", chromedp.Click(chromedp.ID("pay-button")), chromedp.WaitVisible(chromedp.ID("confirm")))
		order := s.waitOrder()
		s.Shot("4-confirmation")
		o, err := st.mc.OrderByIncrementID(ctx, order)
		if err != nil || o.CustomerID != 1 {
			t.Errorf("Magento order %s: customer %v (%v); want Veronica's (1)", order, o, err)
		}
	})

	t.Run("guest logs in by code and keeps the cart", func(t *testing.T) {
		s := &shopper{browsertest.Page{T: t, Ctx: newBrowser(t), Dir: dir, Name: "guest-login"}}
		cart, err := st.sandbox.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-MB01", Qty: 3})
		if err != nil {
			t.Fatal(err)
		}
		s.Do("hand off", chromedp.Navigate(st.url+"/checkout/start?cart="+cart.MaskedID), chromedp.WaitVisible(chromedp.ID("email")))
		s.Do("open login", chromedp.Click(chromedp.CSS(`#otp summary`)), chromedp.WaitVisible(chromedp.ID("otp-id")),
			chromedp.SendKeys(chromedp.ID("otp-id"), "+1 555 010 0199"+kb.Enter), chromedp.WaitVisible(chromedp.ID("otp-code")),
			chromedp.SendKeys(chromedp.ID("otp-code"), fakeCode+kb.Enter), chromedp.WaitVisible(chromedp.CSS(`.badge.ok`)))
		s.Shot("1-logged-in")
		if email, _ := chromedp.Run(s.Ctx, chromedp.Value(chromedp.ID("email"))); email != "roni_cost@example.com" {
			t.Errorf("email after login %q; want it filled from the login", email)
		}
		if items, _ := chromedp.Run(s.Ctx, chromedp.TextContent(chromedp.CSS(".items"))); !strings.Contains(items, "× 3") {
			t.Errorf("cart after login %q; want the guest cart kept", items)
		}
	})

	t.Run("handoff snippet on Magento's pages", func(t *testing.T) {
		snippet, err := os.ReadFile("../../../magento-handoff/head-snippet.html")
		if err != nil {
			t.Fatal(err)
		}
		head := strings.ReplaceAll(string(snippet), "https://secure.shop.example", st.url)
		cart, err := st.sandbox.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-MB01", Qty: 1})
		if err != nil {
			t.Fatal(err)
		}
		// www as the shopper sees it: Magento's cart and checkout pages render
		// window.checkoutConfig inline, after the head.
		page := func(body string) string {
			return `<!doctype html><html><head><link rel="icon" href="data:,">` + head + "</head><body>" + body +
				`<script>window.checkoutConfig = {"quoteData": {"entity_id": "` + cart.MaskedID + `"}};</script></body></html>`
		}
		www := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			switch r.URL.Path {
			case "/checkout/cart/":
				fmt.Fprint(w, page(`<h1>Shopping Cart</h1><button type="button" data-role="proceed-to-checkout" id="proceed">Proceed to Checkout</button>`))
			case "/checkout/":
				fmt.Fprint(w, page(`<h1>Magento checkout</h1>`))
			default:
				http.NotFound(w, r)
			}
		}))
		defer www.Close()
		s := &shopper{browsertest.Page{T: t, Ctx: newBrowser(t), Dir: dir, Name: "handoff"}}
		s.Do("cart page", chromedp.Navigate(www.URL+"/checkout/cart/"), chromedp.WaitVisible(chromedp.ID("proceed")))
		s.Do("proceed to checkout", chromedp.Click(chromedp.ID("proceed")), chromedp.WaitVisible(chromedp.ID("email")))
		if loc, _ := chromedp.Run(s.Ctx, chromedp.Location()); !strings.HasPrefix(loc, st.url+"/checkout/s/") {
			t.Errorf("after Proceed to Checkout the browser is at %s; want the secure checkout", loc)
		}
		s.Do("Magento's checkout page", chromedp.Navigate(www.URL+"/checkout/"), chromedp.WaitVisible(chromedp.ID("email")))
		if loc, _ := chromedp.Run(s.Ctx, chromedp.Location()); !strings.HasPrefix(loc, st.url+"/checkout/s/") {
			t.Errorf("Magento's /checkout/ left the browser at %s; want the secure checkout", loc)
		}
	})

	t.Run("desktop layout", func(t *testing.T) {
		s := &shopper{browsertest.Page{T: t, Ctx: newBrowser(t), Dir: dir, Name: "desktop"}}
		s.Do("desktop viewport", chromedp.EmulateViewport(1280, 900))
		s.checkout(st)
		s.Shot("3-payment")
	})
	fmt.Fprintln(os.Stderr, "screenshots in", dir)
}

// eval runs JavaScript in the page, as a step.
func eval(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](js)(ctx, t)
		return err
	})
}

const fakeCode = "123456"

// registerFakeOTP serves otp-service's two login calls under /auth, as nginx
// routes them on the secure host, for one identity: Veronica, whose Magento
// customer token it mints. otp-service itself is tested in its own module
// path; here only the page's use of the API matters.
func registerFakeOTP(e *gin.Engine, mc *magento.Client) {
	e.POST("/auth/v1/otp/start", func(c *gin.Context) {
		c.JSON(http.StatusAccepted, gin.H{"challenge_id": "ch_e2e", "channel": "sms", "expires_in": 300, "resend_after": 30})
	})
	e.POST("/auth/v1/otp/verify", func(c *gin.Context) {
		var body struct{ ChallengeID, Code string }
		if err := c.BindJSON(&body); err != nil || body.Code != fakeCode {
			c.JSON(http.StatusUnauthorized, gin.H{"error": gin.H{"code": "invalid_code", "message": "The code is not valid."}})
			return
		}
		tok, err := mc.CustomerToken(c.Request.Context(), "roni_cost@example.com", "roni_cost3@example.com")
		if err != nil {
			c.JSON(http.StatusBadGateway, gin.H{})
			return
		}
		c.JSON(http.StatusOK, gin.H{"access_token": "e2e-access-user-1", "token_type": "Bearer", "expires_in": 900,
			"refresh_token": "r", "magento_customer_token": tok,
			"customer": gin.H{"id": "user-1", "phone": "+15550100199", "email": "roni_cost@example.com", "magento_customer_id": 1}})
	})
}

// otpTokens stands in for accesstoken.Verifier against otp-service's JWKS.
type otpTokens struct{}

func (otpTokens) Verify(_ context.Context, tok string) (accesstoken.Claims, error) {
	if tok != "e2e-access-user-1" {
		return accesstoken.Claims{}, errs.E(errs.Unauthorized, "bad token")
	}
	return accesstoken.Claims{Subject: "user-1", MagentoCustomerID: 1, ExpiresAt: time.Now().Add(15 * time.Minute)}, nil
}

// until waits for a JavaScript condition, as a step.
func until(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](js)(ctx, t)
		return err
	})
}

// untilEval waits for a JavaScript condition by evaluating it in whatever
// document is current, again and again, as a step: for history navigation,
// which chromedp's frame tracking (and so until's Poll) does not follow. An
// error while the old document goes away is looked at again; the step's
// deadline ends the wait.
func untilEval(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			ok, err := chromedp.Evaluate[bool](js)(ctx, t)
			if err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s still not true: %w (last error: %v)", js, ctx.Err(), err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}
