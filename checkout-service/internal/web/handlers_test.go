package web

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/httpserver"
)

// stack is the pages over a fake checkout domain, served by the platform's
// HTTP server (with its access log) on an httptest server.
type stack struct {
	core *fakeCore
	srv  *httptest.Server
	logs *observer.ObservedLogs
	p    *Pages
}

func newStack(tb testing.TB, mutate ...func(*Config)) *stack {
	tb.Helper()
	rdb, prefix := cachetest.New(tb)
	core := newFakeCore()
	zc, logs := observer.New(zap.DebugLevel)
	log := zap.New(zc)
	hs, err := httpserver.New(config.DefaultHTTP("127.0.0.1:0"), log)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(hs)
	cfg := DefaultConfig()
	cfg.PublicBaseURL = "http://" + srv.Listener.Addr().String()
	cfg.AllowedReturnOrigins = []string{"https://www.shop.example"}
	cfg.CartURL = "https://www.shop.example/checkout/cart/"
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := New(cfg, Deps{Sessions: core, Payments: core, Carts: core, Actions: core, Tokens: fakeTokens{}, Redis: rdb, Prefix: prefix, Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	p.Register(hs.Engine())
	srv.Start()
	tb.Cleanup(srv.Close)
	return &stack{core: core, srv: srv, logs: logs, p: p}
}

// browser is an HTTP client with its own cookie jar that does not follow
// redirects.
type browser struct {
	tb testing.TB
	c  *http.Client
	s  *stack
}

func (s *stack) browser(tb testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{tb: tb, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	loc    string
	body   string
	h      http.Header
}

func (b *browser) do(method, path string, form url.Values) page {
	b.tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.s.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.s.srv.URL)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, loc: resp.Header.Get("Location"), body: string(raw), h: resp.Header}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

func (b *browser) post(path string, form url.Values) page { return b.do(http.MethodPost, path, form) }

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)"`)

// hidden returns a page's hidden form fields.
func (pg page) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(pg.body, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

// start hands a new cart off to the checkout and returns the session path.
func (b *browser) start() (masked, base string) {
	b.tb.Helper()
	masked = b.s.core.addCart()
	pg := b.get("/checkout/start?cart=" + masked)
	if pg.status != http.StatusSeeOther || !strings.HasSuffix(pg.loc, "/details") {
		b.tb.Fatalf("start = %d %q; want 303 to the details page", pg.status, pg.loc)
	}
	return masked, strings.TrimSuffix(pg.loc, "/details")
}

func details() url.Values {
	return url.Values{"email": {"ada@example.com"}, "phone": {"+1 555 010 0199"}, "firstname": {"Ada"},
		"lastname": {"Lovelace"}, "street1": {"1 Main St"}, "city": {"Los Angeles"}, "region": {"CA"},
		"postcode": {"90001"}, "country": {"US"}}
}

// toPayment fills details and shipping and returns the payment page.
func (b *browser) toPayment(base string) page {
	b.tb.Helper()
	pg := b.get(base + "/details")
	f := details()
	f.Set("csrf", pg.hidden().Get("csrf"))
	if pg = b.post(base+"/details", f); pg.status != http.StatusSeeOther || !strings.HasSuffix(pg.loc, "/shipping") {
		b.tb.Fatalf("POST details = %d %q; want 303 to shipping", pg.status, pg.loc)
	}
	pg = b.get(base + "/shipping")
	if pg = b.post(base+"/shipping", url.Values{"csrf": {pg.hidden().Get("csrf")}, "method": {"flatrate|flatrate"}}); pg.status != http.StatusSeeOther {
		b.tb.Fatalf("POST shipping = %d; want 303", pg.status)
	}
	pg = b.get(base + "/payment")
	if pg.status != http.StatusOK {
		b.tb.Fatalf("GET payment = %d; want 200\n%s", pg.status, pg.body)
	}
	return pg
}

func TestStartBindsSessionToBrowser(t *testing.T) {
	s := newStack(t)
	a := s.browser(t)
	masked := s.core.addCart()
	pg := a.get("/checkout/start?cart=" + masked)
	if pg.status != http.StatusSeeOther {
		t.Fatalf("GET /checkout/start = %d; want 303", pg.status)
	}
	ck := pg.h.Get("Set-Cookie")
	for _, want := range []string{"checkout=", "Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(ck, want) {
			t.Errorf("Set-Cookie = %q; want it to contain %q", ck, want)
		}
	}
	if strings.Contains(ck, "Domain=") {
		t.Errorf("Set-Cookie = %q; want a host-only cookie", ck)
	}
	base := strings.TrimSuffix(pg.loc, "/details")
	if got := a.get(base + "/details"); got.status != http.StatusOK {
		t.Fatalf("same browser: GET details = %d; want 200", got.status)
	}
	// Another browser that learned the session id (a shared link, a screenshot).
	b := s.browser(t)
	b.get("/checkout/start?cart=" + s.core.addCart()) // has a cookie of its own
	for _, path := range []string{"/details", "/shipping", "/payment", "/done", "/status"} {
		if got := b.get(base + path); got.status != http.StatusForbidden {
			t.Errorf("other browser: GET %s = %d; want 403", path, got.status)
		}
	}
	f := details()
	f.Set("csrf", a.get(base+"/details").hidden().Get("csrf")) // even with a valid token
	if got := b.post(base+"/details", f); got.status != http.StatusForbidden {
		t.Errorf("other browser: POST details = %d; want 403", got.status)
	}
	if got := s.browser(t).get(base + "/details"); got.status != http.StatusForbidden {
		t.Errorf("cookieless browser: GET details = %d; want 403", got.status)
	}
}

func TestSecureCookieOverHTTPS(t *testing.T) {
	s := newStack(t, func(c *Config) { c.PublicBaseURL = "https://secure.shop.example" })
	req := httptest.NewRequest(http.MethodGet, "/checkout/start?cart="+s.core.addCart(), nil)
	w := httptest.NewRecorder()
	e := gin.New()
	s.p.Register(e)
	e.ServeHTTP(w, req)
	ck := w.Header().Get("Set-Cookie")
	for _, want := range []string{"__Host-checkout=", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(ck, want) {
			t.Errorf("Set-Cookie = %q; want %q", ck, want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "upgrade-insecure-requests") {
		t.Errorf("CSP = %q; want upgrade-insecure-requests over https", csp)
	}
}

func TestStaleCSRFRefused(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	_, base := b.start()
	f := details()
	for name, tok := range map[string]string{"missing": "", "forged": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		f.Set("csrf", tok)
		if pg := b.post(base+"/details", f); pg.status != http.StatusForbidden || !strings.Contains(pg.body, "out of date") {
			t.Errorf("%s token: POST details = %d; want 403 with an explanation", name, pg.status)
		}
	}
	// A payment form replayed after a decline carries the previous attempt's token.
	pay := b.toPayment(base)
	old := pay.hidden()
	old.Set("token", "tok_sandbox_insufficient_funds")
	if pg := b.post(base+"/payment", old); pg.status != http.StatusSeeOther || !strings.HasSuffix(pg.loc, "/payment") {
		t.Fatalf("declined payment: %d %q; want 303 back to payment", pg.status, pg.loc)
	}
	fresh := b.get(base + "/payment")
	if !strings.Contains(fresh.body, "enough available") {
		t.Errorf("after a decline the page does not say what happened:\n%s", fresh.body)
	}
	old.Set("token", "tok_sandbox_ok")
	if pg := b.post(base+"/payment", old); pg.status != http.StatusForbidden {
		t.Errorf("replayed stale form: POST payment = %d; want 403", pg.status)
	}
	if fresh.hidden().Get("attempt_key") == old.Get("attempt_key") {
		t.Error("a new attempt reuses the declined attempt's Idempotency-Key")
	}
	// The fresh form pays.
	nf := fresh.hidden()
	nf.Set("token", "tok_sandbox_ok")
	if pg := b.post(base+"/payment", nf); !strings.HasSuffix(pg.loc, "/done") {
		t.Errorf("fresh form: POST payment → %d %q; want the confirmation", pg.status, pg.loc)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	_, base := b.start()
	f := details()
	f.Set("csrf", b.get(base+"/details").hidden().Get("csrf"))
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+base+"/details", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST = %d; want 403", resp.StatusCode)
	}
}

func TestPostedPriceIgnored(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	_, base := b.start()
	pay := b.toPayment(base)
	f := pay.hidden()
	f.Set("token", "tok_sandbox_ok")
	for k, v := range map[string]string{"amount": "1", "grand_total": "0.01", "price": "0", "currency": "JPY", "totals[grand_total]": "1"} {
		f.Set(k, v)
	}
	if pg := b.post(base+"/payment", f); !strings.HasSuffix(pg.loc, "/done") {
		t.Fatalf("POST payment = %d %q; want the confirmation", pg.status, pg.loc)
	}
	done := b.get(base + "/done")
	for _, p := range s.core.payments {
		if p.Amount != 13500 || p.Currency != "USD" {
			t.Errorf("charged %d %s; want Magento's 13500 USD", p.Amount, p.Currency)
		}
	}
	if !strings.Contains(done.body, "$135.00") {
		t.Errorf("confirmation does not show Magento's total $135.00")
	}
}

func TestDoubleSubmitPaysOnce(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	_, base := b.start()
	f := b.toPayment(base).hidden()
	f.Set("token", "tok_sandbox_ok")
	first, second := b.post(base+"/payment", f), b.post(base+"/payment", f)
	if first.loc != second.loc || !strings.HasSuffix(second.loc, "/done") {
		t.Errorf("double submit → %q and %q; want both on the confirmation", first.loc, second.loc)
	}
	if len(s.core.payments) != 1 {
		t.Errorf("%d payments; want 1", len(s.core.payments))
	}
	if len(s.core.pays) == 2 && s.core.pays[0].IdempotencyKey != s.core.pays[1].IdempotencyKey {
		t.Errorf("keys %q and %q; want one Idempotency-Key per attempt", s.core.pays[0].IdempotencyKey, s.core.pays[1].IdempotencyKey)
	}
}

func TestCartChangedShowsNewTotalsBeforeCharging(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	masked, base := b.start()
	f := b.toPayment(base).hidden()
	s.core.setGrandTotal(masked, 0) // the shopper added a watch on www in another tab
	f.Set("token", "tok_sandbox_ok")
	pg := b.post(base+"/payment", f)
	if !strings.HasSuffix(pg.loc, "/payment") || len(s.core.payments) != 0 {
		t.Fatalf("POST payment after a cart change → %q with %d payments; want back to payment, nothing charged", pg.loc, len(s.core.payments))
	}
	again := b.get(base + "/payment")
	if !strings.Contains(again.body, "$184.00") || !strings.Contains(again.body, "changed") {
		t.Errorf("payment page after a cart change lacks the new total $184.00 and a notice")
	}
	f = again.hidden()
	f.Set("token", "tok_sandbox_ok")
	if pg := b.post(base+"/payment", f); !strings.HasSuffix(pg.loc, "/done") {
		t.Fatalf("POST after seeing the new totals → %q; want the confirmation", pg.loc)
	}
	for _, p := range s.core.payments {
		if p.Amount != 18400 {
			t.Errorf("charged %d; want the new total 18400", p.Amount)
		}
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	for _, to := range []string{
		"https://evil.example/", "//evil.example/", "/\\evil.example", "https://www.shop.example.evil.example/",
		"https://www.shop.example@evil.example/", "javascript:alert(1)", "http://www.shop.example/",
		"https:/\\evil.example", "", "https://evil.example%0d%0aSet-Cookie:x=1",
	} {
		if pg := b.get("/checkout/leave?to=" + url.QueryEscape(to)); pg.status != http.StatusBadRequest {
			t.Errorf("leave?to=%q = %d %q; want 400", to, pg.status, pg.loc)
		}
	}
	if pg := b.get("/checkout/leave?to=" + url.QueryEscape("https://www.shop.example/checkout/cart/")); pg.status != http.StatusSeeOther {
		t.Errorf("leave to the store = %d; want 303", pg.status)
	}
}

var (
	nonceRE  = regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]+)'`)
	inlineRE = regexp.MustCompile(`(?i)\son[a-z]+\s*=|<script(?:\s+nonce="[^"]*")?\s*>|javascript:`)
)

func TestSecurityHeadersAndNoInlineScript(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	_, base := b.start()
	pay := b.toPayment(base)
	pages := map[string]page{"details": b.get(base + "/details"), "shipping": b.get(base + "/shipping"), "payment": pay,
		"error": b.get("/checkout/start?cart=nope"), "3ds": b.get("/checkout/sandbox/3ds/sbx_sandbox-a_abc")}
	seen := map[string]bool{}
	for name, pg := range pages {
		csp := pg.h.Get("Content-Security-Policy")
		m := nonceRE.FindStringSubmatch(csp)
		if m == nil {
			t.Errorf("%s: CSP %q has no script nonce", name, csp)
			continue
		}
		if seen[m[1]] {
			t.Errorf("%s: nonce reused across responses", name)
		}
		seen[m[1]] = true
		for _, want := range []string{"frame-ancestors 'none'", "default-src 'none'", "object-src 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP lacks %q", name, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe sources: %q", name, csp)
		}
		if !strings.Contains(pg.body, `nonce="`+m[1]+`"`) {
			t.Errorf("%s: the page's script does not carry the response's nonce", name)
		}
		if strings.Contains(pg.body, "ZgotmplZ") {
			t.Errorf("%s: html/template refused a value (ZgotmplZ) in the page", name)
		}
		if loc := inlineRE.FindString(pg.body); loc != "" {
			t.Errorf("%s: inline script or handler %q", name, loc)
		}
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
			"X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
			if got := pg.h.Get(h); got != want {
				t.Errorf("%s: %s = %q; want %q", name, h, got, want)
			}
		}
	}
}

func TestWidgetCSPAllowsOnlyItsGateway(t *testing.T) {
	tests := []struct {
		widget string
		want   string
		not    []string
	}{
		{WidgetStripe, "https://js.stripe.com", []string{"razorpay", "paypal"}},
		{WidgetRazorpay, "https://checkout.razorpay.com", []string{"stripe", "paypal"}},
		{WidgetPayPal, "https://www.paypal.com", []string{"stripe", "razorpay"}},
		{WidgetSandbox, "", []string{"stripe", "razorpay", "paypal", "https:"}},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Widget, cfg.StripePublishableKey, cfg.RazorpayKeyID, cfg.PayPalClientID = tt.widget, "pk_test_x", "rzp_test", "pp"
		csp := buildCSP(cfg, false)
		policy := csp[0] + "N" + csp[1]
		script := strings.SplitN(strings.SplitN(policy, "script-src ", 2)[1], ";", 2)[0]
		if !strings.Contains(script, tt.want) {
			t.Errorf("%s: script-src %q lacks %q", tt.widget, script, tt.want)
		}
		for _, n := range tt.not {
			if strings.Contains(policy, n) {
				t.Errorf("%s: CSP %q mentions %q", tt.widget, policy, n)
			}
		}
	}
}

func TestMaskedCartIDNeverLogged(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	masked, base := b.start()
	b.toPayment(base)
	b.get("/checkout/start?cart=Unknown0000000000000000000000001") // a not-found cart, named in the domain's error
	for _, e := range s.logs.All() {
		line := e.Message
		for _, f := range e.Context {
			line += " " + f.String + " " + f.Key
			if f.Interface != nil {
				line += " " + strings.TrimSpace(strings.ReplaceAll(fmtAny(f.Interface), "\n", " "))
			}
		}
		if strings.Contains(line, masked) || strings.Contains(line, "Unknown0000000000000000000000001") {
			t.Errorf("log entry carries a masked cart id: %s", line)
		}
	}
	if s.logs.Len() == 0 {
		t.Error("no access log at all; the test would prove nothing")
	}
}

func fmtAny(v any) string {
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

func TestThreeDSReturnsToConfirmation(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	_, base := b.start()
	f := b.toPayment(base).hidden()
	f.Set("token", "tok_sandbox_3ds")
	pg := b.post(base+"/payment", f)
	if !strings.HasPrefix(pg.loc, "/checkout/sandbox/3ds/") {
		t.Fatalf("3DS payment → %q; want the sandbox 3-D Secure page", pg.loc)
	}
	page3 := b.get(pg.loc)
	tok := page3.hidden().Get("csrf")
	if got := s.browser(t).post(pg.loc, url.Values{"csrf": {tok}, "decision": {"approve"}}); got.status != http.StatusForbidden {
		t.Errorf("3DS approve from another browser = %d; want 403", got.status)
	}
	res := b.post(pg.loc, url.Values{"csrf": {tok}, "decision": {"approve"}})
	if !strings.HasPrefix(res.loc, "/checkout/return/") {
		t.Fatalf("3DS approve → %q; want the return route", res.loc)
	}
	if back := b.get(res.loc); !strings.HasSuffix(back.loc, "/done") {
		t.Errorf("return → %q; want the confirmation", back.loc)
	}
	pid := strings.TrimPrefix(res.loc, "/checkout/return/")
	if back := b.get("/checkout/return?payment=" + pid); !strings.HasSuffix(back.loc, "/done") {
		t.Errorf("return?payment= → %q; want the confirmation", back.loc)
	}
	if back := s.browser(t).get("/checkout/return?payment=" + pid); back.status != http.StatusForbidden {
		t.Errorf("return from another browser = %d; want 403", back.status)
	}
	for id := range s.core.payments {
		s.core.placeOrder(id, "000000042")
	}
	if st := b.get(base + "/status"); !strings.Contains(st.body, `"order_number":"000000042"`) {
		t.Errorf("status = %s; want the order number", st.body)
	}
	if done := b.get(base + "/done"); !strings.Contains(done.body, "000000042") {
		t.Error("confirmation lacks the Magento order number")
	}
}

func TestPageWeight(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	_, base := b.start()
	pay := b.toPayment(base)
	total := len(pay.body)
	for name, a := range s.p.assets {
		if !strings.Contains(pay.body, a.url) {
			continue
		}
		total += len(b.get(a.url).body)
		t.Logf("asset %s: %d bytes", name, len(a.body))
	}
	t.Logf("payment page with its assets: %d bytes", total)
	if total > 100*1024 {
		t.Errorf("payment page transfers %d bytes; want under 100 KB", total)
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	tests := map[string]func(*Config){
		"public_base_url":        func(c *Config) { c.PublicBaseURL = "secure.shop.example" },
		"cookie_name":            func(c *Config) { c.CookieName = "__Host-x" },
		"allowed_return_origins": func(c *Config) { c.AllowedReturnOrigins = []string{"https://www.shop.example/path"} },
		"cart_url":               func(c *Config) { c.CartURL = "https://evil.example/cart" },
		"locale":                 func(c *Config) { c.Locale = "xx-XX" },
		"widget":                 func(c *Config) { c.Widget = "bitcoin" },
		"stripe_publishable_key": func(c *Config) { c.Widget = WidgetStripe },
		"csp_extra":              func(c *Config) { c.CSPExtra.ScriptSrc = []string{"'unsafe-inline'"} },
	}
	for key, mutate := range tests {
		c := DefaultConfig()
		mutate(&c)
		var p config.Problems
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: Validate() = nil; want a problem", key)
			continue
		}
		if pr, ok := err.(config.Problems); ok {
			p = pr
		}
		found := false
		for _, k := range p.Keys() {
			found = found || k == key
		}
		if !found {
			t.Errorf("%s: Validate() = %v; want the key named", key, err)
		}
	}
}

var _ = context.Background

var formRE = regexp.MustCompile(`<form id="otp-done" method="post" action="([^"]+)"`)

func TestCustomerLogsInByCodeForTheirCart(t *testing.T) {
	s := newStack(t)
	a := s.browser(t)
	s.core.addCustomerCart("mtok-roni")
	login := a.get("/checkout/start?cart=42") // Magento's numeric quote id: proves nothing
	if login.status != http.StatusOK || !strings.Contains(login.body, `data-auth="/auth"`) {
		t.Fatalf("GET start with a quote id = %d; want the login-by-code page", login.status)
	}
	m := formRE.FindStringSubmatch(login.body)
	if m == nil || m[1] != "/checkout/login" {
		t.Fatalf("login page has no login form: %v", m)
	}
	csrf := login.hidden().Get("csrf")
	f := url.Values{"csrf": {csrf}, "access_token": {"good-user-1"}, "magento_customer_token": {"mtok-roni"}}
	if pg := s.browser(t).post("/checkout/login", f); pg.status != http.StatusForbidden {
		t.Errorf("login form from another browser = %d; want 403", pg.status)
	}
	bad := url.Values{"csrf": {csrf}, "access_token": {"forged"}, "magento_customer_token": {"mtok-roni"}}
	if pg := a.post("/checkout/login", bad); pg.status != http.StatusUnauthorized {
		t.Errorf("login with a bad access token = %d; want 401", pg.status)
	}
	pg := a.post("/checkout/login", f)
	if pg.status != http.StatusSeeOther || !strings.HasSuffix(pg.loc, "/details") {
		t.Fatalf("login = %d %q; want 303 to the details page\n%s", pg.status, pg.loc, pg.body)
	}
	base := strings.TrimSuffix(pg.loc, "/details")
	det := a.get(base + "/details")
	if det.status != http.StatusOK || !strings.Contains(det.body, "Logged in") {
		t.Errorf("customer details page = %d, logged-in badge %v", det.status, strings.Contains(det.body, "Logged in"))
	}
	for _, sess := range s.core.sessions {
		if sess.Subject != "user-1" || sess.Cart.Kind != "customer" {
			t.Errorf("session subject %q kind %q; want user-1's customer cart", sess.Subject, sess.Cart.Kind)
		}
	}
	if pg := s.browser(t).get(base + "/details"); pg.status != http.StatusForbidden {
		t.Errorf("customer session from another browser = %d; want 403", pg.status)
	}
}

func TestGuestLogsInByCodeAndKeepsCart(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	_, base := b.start()
	det := b.get(base + "/details")
	m := formRE.FindStringSubmatch(det.body)
	if m == nil || m[1] != base+"/login" {
		t.Fatalf("details page offers no login by code (%v)", m)
	}
	csrf := det.hidden().Get("csrf")
	pg := b.post(base+"/login", url.Values{"csrf": {csrf}, "access_token": {"good-user-2"}, "email": {"grace@example.com"}, "phone": {"+15550100"}})
	if !strings.HasSuffix(pg.loc, "/details") {
		t.Fatalf("guest login → %d %q; want back to details", pg.status, pg.loc)
	}
	after := b.get(base + "/details")
	if !strings.Contains(after.body, "grace@example.com") || !strings.Contains(after.body, "Your cart is unchanged") {
		t.Errorf("after login the details page lacks the prefilled email or the notice")
	}
	if strings.Contains(after.body, `id="otp-done"`) {
		t.Error("a logged-in shopper is offered login again")
	}
	f := details()
	f.Set("csrf", csrf) // the token from before the login
	if pg := b.post(base+"/details", f); pg.status != http.StatusForbidden {
		t.Errorf("form from before the login = %d; want 403 (stale)", pg.status)
	}
	b.toPayment(base) // the guest cart is still the session's
}

func TestRazorpayWidgetAfterRouting(t *testing.T) {
	s := newStack(t, func(c *Config) {
		c.Widget, c.RazorpayKeyID = WidgetRazorpay, "rzp_test_x"
	})
	b := s.browser(t)
	_, base := b.start()
	pay := b.toPayment(base)
	if !strings.Contains(pay.body, `src="https://checkout.razorpay.com/v1/checkout.js" nonce="`) {
		t.Error("payment page does not load Razorpay Checkout with the nonce")
	}
	if csp := pay.h.Get("Content-Security-Policy"); !strings.Contains(csp, "https://checkout.razorpay.com") || strings.Contains(csp, "stripe") {
		t.Errorf("CSP %q; want Razorpay's origins only", csp)
	}
	f := pay.hidden()
	f.Set("method", "upi") // no token: Razorpay collects the payment after routing
	pg := b.post(base+"/payment", f)
	if !strings.HasSuffix(pg.loc, "/payment") {
		t.Fatalf("POST payment → %q; want back to the payment page to open the widget", pg.loc)
	}
	action := b.get(base + "/payment")
	if !strings.Contains(action.body, `id="gw-action" data-type="sdk"`) || !strings.Contains(action.body, "order_pay_") || strings.Contains(action.body, "ZgotmplZ") {
		t.Fatalf("payment page does not hand the Razorpay order to the widget:\n%s", action.body)
	}
	for id := range s.core.payments {
		if got := s.core.payments[id].Method; got != "upi" {
			t.Errorf("method %q; want upi", got)
		}
		s.core.capture(id) // the shopper paid in Razorpay Checkout
	}
	done := b.post(base+"/confirm", url.Values{"csrf": {action.hidden().Get("csrf")}, "outcome": {"done"}})
	if !strings.HasSuffix(done.loc, "/done") {
		t.Errorf("confirm → %q; want the confirmation", done.loc)
	}
}

var (
	controlRE = regexp.MustCompile(`<(input|select)\b[^>]*>`)
	idRE      = regexp.MustCompile(`\bid="([^"]+)"`)
	typeRE    = regexp.MustCompile(`\btype="([^"]+)"`)
)

// TestFormsAreLabelled checks that every visible control has a label a
// screen reader reads: a <label for> of its id, or (radios) a wrapping label.
func TestFormsAreLabelled(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	_, base := b.start()
	pay := b.toPayment(base)
	pages := map[string]page{"details": b.get(base + "/details"), "shipping": b.get(base + "/shipping"), "payment": pay,
		"login": s.browser(t).get("/checkout/start?cart=42")}
	for name, pg := range pages {
		controls := 0
		for _, m := range controlRE.FindAllString(pg.body, -1) {
			typ := ""
			if tm := typeRE.FindStringSubmatch(m); tm != nil {
				typ = tm[1]
			}
			if typ == "hidden" {
				continue
			}
			controls++
			id := idRE.FindStringSubmatch(m)
			switch {
			case typ == "radio":
				if !regexp.MustCompile(`<label class="choice[^"]*">\s*` + regexp.QuoteMeta(m)).MatchString(pg.body) {
					t.Errorf("%s: radio %s is not inside its label", name, m)
				}
			case id == nil:
				t.Errorf("%s: control without an id (and so without a label): %s", name, m)
			case !strings.Contains(pg.body, `<label for="`+id[1]+`">`):
				t.Errorf("%s: no <label for=%q>", name, id[1])
			}
		}
		if controls == 0 {
			t.Errorf("%s: no controls found; the test would prove nothing", name)
		}
	}
}
