package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/magefleet/platform/internal/magento"
)

// TestWebPagesThroughServe drives the secure checkout pages of the shipped
// wiring (program().Serve) with a cookie-keeping client: handoff, details,
// shipping, payment with tok_sandbox_ok, confirmation.
func TestWebPagesThroughServe(t *testing.T) {
	h := start(t, 1)
	ctx := context.Background()
	masked, err := h.mc.CreateGuestCart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.mc.AddItem(ctx, magento.GuestCart(masked), "24-MB01", 2); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	hidden := regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)"`)
	get := func(path string) (string, string) {
		t.Helper()
		resp, err := c.Get(h.bases[0] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d\n%s", path, resp.StatusCode, b)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		return resp.Request.URL.Path, string(b)
	}
	post := func(path, body string, form url.Values) string {
		t.Helper()
		for _, m := range hidden.FindAllStringSubmatch(body, -1) {
			if form.Get(m[1]) == "" {
				form.Set(m[1], m[2])
			}
		}
		req, _ := http.NewRequest(http.MethodPost, h.bases[0]+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.bases[0])
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Request.URL.Path
	}
	page, body := get("/checkout/start?cart=" + masked)
	if !strings.HasSuffix(page, "/details") {
		t.Fatalf("handoff landed on %s", page)
	}
	base := strings.TrimSuffix(page, "/details")
	page = post(base+"/details", body, url.Values{"email": {"ada@example.com"}, "phone": {"+1 555 010 0199"},
		"firstname": {"Ada"}, "lastname": {"Lovelace"}, "street1": {"1 Main St"}, "city": {"Los Angeles"},
		"region": {"CA"}, "postcode": {"90001"}, "country": {"US"}})
	_, body = get(page)
	page = post(base+"/shipping", body, url.Values{"method": {"flatrate|flatrate"}})
	_, body = get(page)
	if !strings.Contains(body, "Pay $") {
		t.Fatalf("no payment page at %s", page)
	}
	page = post(base+"/payment", body, url.Values{"token": {"tok_sandbox_ok"}, "method": {"card"}})
	page, body = get(page)
	if !strings.HasSuffix(page, "/done") || !strings.Contains(body, "Payment received") {
		t.Errorf("after paying: %s\n%s", page, body)
	}
}
