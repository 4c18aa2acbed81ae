package magentosandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/magefleet/platform/internal/magento/magentoschema"
	"github.com/magefleet/platform/internal/magentosandbox"
)

type harness struct {
	sb  *magentosandbox.Sandbox
	srv *httptest.Server
}

// newHarness serves a sandbox behind the schema-validating middleware: any
// response that does not match Magento's schema fails the test.
func newHarness(t *testing.T, opts magentosandbox.Options) *harness {
	t.Helper()
	v, err := magentoschema.Default()
	if err != nil {
		t.Fatalf("magentoschema.Default() = %v", err)
	}
	sb := magentosandbox.New(opts)
	srv := httptest.NewServer(v.Middleware(sb.Handler(), func(err error) { t.Errorf("schema: %v", err) }))
	t.Cleanup(srv.Close)
	return &harness{sb: sb, srv: srv}
}

type resp struct {
	status int
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (h *harness) do(t *testing.T, method, path, body string, header ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, b}
}

func (h *harness) adminToken(t *testing.T) string {
	t.Helper()
	r := h.do(t, "POST", "/rest/V1/integration/admin/token", `{"username":"admin","password":"admin123"}`)
	var tok string
	r.json(t, &tok)
	if r.status != 200 || tok == "" {
		t.Fatalf("admin token: %d %s", r.status, r.body)
	}
	return tok
}

// snapshot captures everything a bad request must leave alone.
func (h *harness) snapshot(t *testing.T, masked string) string {
	t.Helper()
	var b bytes.Buffer
	for _, v := range []any{h.sb.Orders(), h.sb.Invoices(), h.sb.CreditMemos()} {
		_ = json.NewEncoder(&b).Encode(v)
	}
	b.Write(h.do(t, "GET", "/rest/V1/guest-carts/"+masked, "").body)
	for _, sku := range []string{"MH01-XS-Black", "24-MB01", "24-WG01"} {
		q, _ := h.sb.Stock(sku)
		_ = json.NewEncoder(&b).Encode(q)
	}
	return b.String()
}

func TestBadInputChangesNothing(t *testing.T) {
	h := newHarness(t, magentosandbox.Options{})
	cart, err := h.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "MH01-XS-Black", Qty: 1})
	if err != nil {
		t.Fatal(err)
	}
	placed, _ := h.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-MB01", Qty: 1})
	addr := `{"region":"California","region_id":12,"region_code":"CA","country_id":"US","street":["1 Main"],"telephone":"1","postcode":"94105","city":"SF","firstname":"A","lastname":"B","email":"a@example.com"}`
	h.do(t, "POST", "/rest/V1/guest-carts/"+placed.MaskedID+"/shipping-information", `{"addressInformation":{"shipping_address":`+addr+`,"shipping_carrier_code":"flatrate","shipping_method_code":"flatrate"}}`)
	if r := h.do(t, "POST", "/rest/V1/guest-carts/"+placed.MaskedID+"/payment-information", `{"email":"a@example.com","paymentMethod":{"method":"checkmo"}}`); r.status != 200 {
		t.Fatalf("place: %d %s", r.status, r.body)
	}
	m := cart.MaskedID
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		message                  string
	}{
		{"unknown sku", "POST", "/rest/V1/guest-carts/" + m + "/items", `{"cartItem":{"sku":"NOPE","qty":1,"quote_id":"` + m + `"}}`, nil, 404, "The product that was requested doesn't exist. Verify the product and try again."},
		{"negative quantity", "POST", "/rest/V1/guest-carts/" + m + "/items", `{"cartItem":{"sku":"24-MB01","qty":-2,"quote_id":"` + m + `"}}`, nil, 400, `Invalid value of "%value" provided for the %fieldName field.`},
		{"zero quantity update", "PUT", "/rest/V1/guest-carts/" + m + "/items/1", `{"cartItem":{"qty":0,"quote_id":"` + m + `"}}`, nil, 400, `Invalid value of "%value" provided for the %fieldName field.`},
		{"more than stock", "POST", "/rest/V1/guest-carts/" + m + "/items", `{"cartItem":{"sku":"24-WG01","qty":4,"quote_id":"` + m + `"}}`, nil, 400, "The requested qty is not available"},
		{"out of stock", "POST", "/rest/V1/guest-carts/" + m + "/items", `{"cartItem":{"sku":"24-UG01","qty":1,"quote_id":"` + m + `"}}`, nil, 400, "Product that you are trying to add is not available."},
		{"malformed json", "POST", "/rest/V1/guest-carts/" + m + "/items", `{"cartItem":`, nil, 400, "Decoding error."},
		{"missing cartItem", "POST", "/rest/V1/guest-carts/" + m + "/items", `{}`, nil, 400, "%fieldName is a required field."},
		{"inactive cart", "POST", "/rest/V1/guest-carts/" + placed.MaskedID + "/items", `{"cartItem":{"sku":"24-MB01","qty":1,"quote_id":"x"}}`, nil, 404, "No such entity with %fieldName = %fieldValue"},
		{"second placement", "POST", "/rest/V1/guest-carts/" + placed.MaskedID + "/payment-information", `{"email":"a@example.com","paymentMethod":{"method":"checkmo"}}`, nil, 404, "No such entity with %fieldName = %fieldValue"},
		{"unknown cart", "GET", "/rest/V1/guest-carts/doesnotexist", "", nil, 404, "No such entity with %fieldName = %fieldValue"},
		{"missing token", "GET", "/rest/V1/orders/1", "", nil, 401, "The consumer isn't authorized to access %resources."},
		{"customer token on admin route", "POST", "/rest/V1/order/1/invoice", `{}`, []string{"Authorization", "Bearer nottoken"}, 401, "The consumer isn't authorized to access %resources."},
		{"missing customer token", "POST", "/rest/V1/carts/mine/items", `{"cartItem":{"sku":"24-MB01","qty":1,"quote_id":"1"}}`, nil, 401, "The consumer isn't authorized to access %resources."},
		{"unknown payment method", "POST", "/rest/V1/guest-carts/" + m + "/payment-information", `{"email":"a@example.com","paymentMethod":{"method":"free"}}`, nil, 400, "The requested Payment Method is not available."},
		{"purchase order without number", "POST", "/rest/V1/guest-carts/" + m + "/payment-information", `{"email":"a@example.com","paymentMethod":{"method":"purchaseorder"}}`, nil, 400, "Purchase order number is a required field."},
		{"place without shipping", "POST", "/rest/V1/guest-carts/" + m + "/payment-information", `{"email":"a@example.com","paymentMethod":{"method":"checkmo"}}`, nil, 400, "The shipping address is missing. Set the address and try again."},
		{"unknown carrier", "POST", "/rest/V1/guest-carts/" + m + "/shipping-information", `{"addressInformation":{"shipping_address":` + addr + `,"shipping_carrier_code":"ups","shipping_method_code":"ground"}}`, nil, 400, "Carrier with such method not found: %1, %2"},
		{"bad coupon", "PUT", "/rest/V1/guest-carts/" + m + "/coupons/NOPE", "", nil, 404, "The coupon code isn't valid. Verify the code and try again."},
		{"unknown route", "GET", "/rest/V1/nothing-here", "", nil, 404, "Request does not match any route."},
		{"unknown store", "GET", "/rest/xx/V1/guest-carts/" + m, "", nil, 404, "Request does not match any route."},
	}
	before := h.snapshot(t, m)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, tt.method, tt.path, tt.body, tt.header...)
			var body struct {
				Message string `json:"message"`
			}
			r.json(t, &body)
			if r.status != tt.status || body.Message != tt.message {
				t.Errorf("%s %s = %d %s; want %d %q", tt.method, tt.path, r.status, r.body, tt.status, tt.message)
			}
			if after := h.snapshot(t, m); after != before {
				t.Errorf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestStoreCodes(t *testing.T) {
	h := newHarness(t, magentosandbox.Options{StoreCodes: []string{"fr"}})
	for _, p := range []string{"/rest/V1/guest-carts", "/rest/default/V1/guest-carts", "/rest/fr/V1/guest-carts"} {
		r := h.do(t, "POST", p, "")
		var masked string
		r.json(t, &masked)
		if r.status != 200 || len(masked) != 32 {
			t.Errorf("POST %s = %d %s; want a 32-char masked id", p, r.status, r.body)
		}
	}
}

func TestPlacementReservesIncrementIDAndStock(t *testing.T) {
	h := newHarness(t, magentosandbox.Options{})
	tok := h.adminToken(t)
	for i, want := range []string{"000000001", "000000002"} {
		cart, err := h.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-WG01", Qty: 1})
		if err != nil {
			t.Fatal(err)
		}
		addr := `{"region":"Texas","region_id":57,"region_code":"TX","country_id":"US","street":["1 Main"],"telephone":"1","postcode":"73301","city":"Austin","firstname":"A","lastname":"B","email":"a@example.com"}`
		h.do(t, "POST", "/rest/V1/guest-carts/"+cart.MaskedID+"/shipping-information", `{"addressInformation":{"shipping_address":`+addr+`,"shipping_carrier_code":"tablerate","shipping_method_code":"bestway"}}`)
		r := h.do(t, "POST", "/rest/V1/guest-carts/"+cart.MaskedID+"/payment-information", `{"email":"a@example.com","paymentMethod":{"method":"checkmo"}}`)
		var id int64
		r.json(t, &id)
		o := h.do(t, "GET", "/rest/V1/orders/"+jsonNum(id), "", "Authorization", "Bearer "+tok)
		var order struct {
			IncrementID string  `json:"increment_id"`
			QuoteID     int64   `json:"quote_id"`
			TaxAmount   float64 `json:"tax_amount"`
			GrandTotal  float64 `json:"grand_total"`
		}
		o.json(t, &order)
		// Texas: no tax; table rate $10 below $100.
		if order.IncrementID != want || order.QuoteID != cart.QuoteID || order.TaxAmount != 0 || order.GrandTotal != 59 {
			t.Errorf("order %d = %+v; want increment %s, quote %d, no tax, 59.00", i, order, want, cart.QuoteID)
		}
	}
	if q, _ := h.sb.Stock("24-WG01"); q != 1 {
		t.Errorf("stock after two orders = %v; want 1", q)
	}
	if _, err := h.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-WG01", Qty: 2}); err == nil {
		t.Errorf("CreateGuestCartWithItems beyond stock = nil; want an error")
	}
}

func jsonNum(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestSearchCriteria(t *testing.T) {
	h := newHarness(t, magentosandbox.Options{})
	tok := h.adminToken(t)
	auth := []string{"Authorization", "Bearer " + tok}
	f := func(g, i int, field, cond, value string) string {
		p := "searchCriteria[filterGroups][" + jsonNum(int64(g)) + "][filters][" + jsonNum(int64(i)) + "]"
		return p + "[field]=" + field + "&" + p + "[value]=" + value + "&" + p + "[conditionType]=" + cond
	}
	tests := []struct {
		name      string
		query     string
		wantTotal int
		wantItems int
		firstSKU  string
	}{
		{"eq", f(0, 0, "sku", "eq", "24-MB01"), 1, 1, "24-MB01"},
		{"like", f(0, 0, "sku", "like", "MH01-%25-Black"), 5, 5, "MH01-XS-Black"},
		{"gt and lt groups are ANDed", f(0, 0, "price", "gt", "60") + "&" + f(1, 0, "price", "lteq", "63"), 15, 15, "MH03-XS-Black"},
		{"filters in a group are ORed", f(0, 0, "sku", "eq", "24-MB01") + "&" + f(0, 1, "sku", "eq", "24-MB04"), 2, 2, "24-MB01"},
		{"in", f(0, 0, "sku", "in", "24-MB01,24-WG01,nope"), 2, 2, "24-MB01"},
		{"gteq with paging", f(0, 0, "price", "gteq", "70") + "&searchCriteria[pageSize]=4&searchCriteria[currentPage]=2", 16, 4, "MH02-S-Purple"},
		{"page past the end answers the last page, like Magento", f(0, 0, "sku", "like", "24-MB%25") + "&searchCriteria[pageSize]=4&searchCriteria[currentPage]=9", 6, 2, "24-MB06"},
		{"sort desc", f(0, 0, "category_id", "eq", "3") + "&searchCriteria[sortOrders][0][field]=price&searchCriteria[sortOrders][0][direction]=DESC&searchCriteria[pageSize]=1", 16, 1, "24-UB02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, "GET", "/rest/V1/products?"+tt.query, "", auth...)
			var res struct {
				Items []struct {
					SKU string `json:"sku"`
				} `json:"items"`
				TotalCount int `json:"total_count"`
			}
			r.json(t, &res)
			if r.status != 200 || res.TotalCount != tt.wantTotal || len(res.Items) != tt.wantItems || len(res.Items) > 0 && res.Items[0].SKU != tt.firstSKU {
				t.Errorf("GET /V1/products?%s = %d total %d items %d first %+v; want %d/%d/%s", tt.query, r.status, res.TotalCount, len(res.Items), res.Items, tt.wantTotal, tt.wantItems, tt.firstSKU)
			}
		})
	}
	if r := h.do(t, "GET", "/rest/V1/products", "", auth...); r.status != 400 {
		t.Errorf("GET /V1/products without searchCriteria = %d; want 400", r.status)
	}
}

func TestTwoFactorAuth(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXP"
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	h := newHarness(t, magentosandbox.Options{AdminTOTPSecret: secret, Now: func() time.Time { return now }})
	code, _ := totp.GenerateCode(secret, now)
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"plain token route refused", "/rest/V1/integration/admin/token", `{"username":"admin","password":"admin123"}`, 401},
		{"wrong otp", "/rest/V1/tfa/provider/google/authenticate", `{"username":"admin","password":"admin123","otp":"000000"}`, 401},
		{"wrong password", "/rest/V1/tfa/provider/google/authenticate", `{"username":"admin","password":"x","otp":"` + code + `"}`, 401},
		{"ok", "/rest/V1/tfa/provider/google/authenticate", `{"username":"admin","password":"admin123","otp":"` + code + `"}`, 200},
	}
	for _, tt := range tests {
		if r := h.do(t, "POST", tt.path, tt.body); r.status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, r.status, r.body, tt.status)
		}
	}
}

func TestFaults(t *testing.T) {
	h := newHarness(t, magentosandbox.Options{})
	cart, _ := h.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-MB01", Qty: 1})
	path := "/rest/V1/guest-carts/" + cart.MaskedID + "/totals"
	if r := h.do(t, "POST", "/__sandbox/faults", `{"error_rate":1,"error_status":503,"path":"/totals$","methods":["GET"]}`); r.status != 200 {
		t.Fatalf("POST faults = %d %s", r.status, r.body)
	}
	if r := h.do(t, "GET", path, ""); r.status != 503 {
		t.Errorf("faulted GET = %d; want 503", r.status)
	}
	if r := h.do(t, "GET", "/rest/V1/guest-carts/"+cart.MaskedID, ""); r.status != 200 {
		t.Errorf("unfiltered path = %d; want 200", r.status)
	}
	h.do(t, "DELETE", "/__sandbox/faults", "")
	if r := h.do(t, "GET", path, ""); r.status != 200 {
		t.Errorf("after DELETE faults = %d; want 200", r.status)
	}
	h.sb.SetFaults(magentosandbox.Fault{LatencyMS: 150, Path: "totals"})
	start := time.Now()
	h.do(t, "GET", path, "")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("latency fault took %v; want >= 150ms", d)
	}
	h.sb.ClearFaults()
	r := h.do(t, "GET", "/__sandbox/orders", "")
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("GET /__sandbox/orders = %d %s", r.status, r.body)
	}
}

func TestListenAndServe(t *testing.T) {
	sb := magentosandbox.New(magentosandbox.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sb.Serve(ctx, ln) }()
	res, err := http.Post("http://"+ln.Addr().String()+"/rest/V1/guest-carts", "application/json", nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("POST guest-carts = %v, %v", res, err)
	}
	res.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve() = %v; want nil after cancel", err)
	}
}

func TestRacyPlacement(t *testing.T) {
	tests := []struct {
		name       string
		racy       bool
		wantOrders int
	}{
		{"serialised by default", false, 1},
		{"issue 13952 when racy", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, magentosandbox.Options{RacyPlacement: tt.racy, RacyPlacementWindow: 100 * time.Millisecond})
			cart, _ := h.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-MB01", Qty: 1})
			addr := `{"region":"California","region_id":12,"region_code":"CA","country_id":"US","street":["1 Main"],"telephone":"1","postcode":"94105","city":"SF","firstname":"A","lastname":"B","email":"a@example.com"}`
			h.do(t, "POST", "/rest/V1/guest-carts/"+cart.MaskedID+"/shipping-information", `{"addressInformation":{"shipping_address":`+addr+`,"shipping_carrier_code":"flatrate","shipping_method_code":"flatrate"}}`)
			done := make(chan int, 2)
			for range 2 {
				go func() {
					res, err := http.Post(h.srv.URL+"/rest/V1/guest-carts/"+cart.MaskedID+"/payment-information", "application/json", strings.NewReader(`{"email":"a@example.com","paymentMethod":{"method":"checkmo"}}`))
					if err != nil {
						t.Errorf("place: %v", err)
						done <- 0
						return
					}
					res.Body.Close()
					done <- res.StatusCode
				}()
			}
			<-done
			<-done
			orders := h.sb.Orders()
			if len(orders) != tt.wantOrders {
				t.Fatalf("orders = %d; want %d", len(orders), tt.wantOrders)
			}
			if tt.racy && orders[0].IncrementID == orders[1].IncrementID {
				t.Errorf("racing orders share increment_id %s", orders[0].IncrementID)
			}
		})
	}
}

func TestInvoiceSearch(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	h := newHarness(t, magentosandbox.Options{Now: func() time.Time { return now }})
	tok := h.adminToken(t)
	auth := []string{"Authorization", "Bearer " + tok}
	addr := `{"region":"Texas","region_id":57,"region_code":"TX","country_id":"US","street":["1 Main"],"telephone":"1","postcode":"73301","city":"Austin","firstname":"A","lastname":"B","email":"a@example.com"}`
	var orderIDs []int64
	for range 3 {
		cart, err := h.sb.CreateGuestCartWithItems(magentosandbox.CartLine{SKU: "24-MB01", Qty: 2})
		if err != nil {
			t.Fatal(err)
		}
		h.do(t, "POST", "/rest/V1/guest-carts/"+cart.MaskedID+"/shipping-information", `{"addressInformation":{"shipping_address":`+addr+`,"shipping_carrier_code":"flatrate","shipping_method_code":"flatrate"}}`)
		r := h.do(t, "POST", "/rest/V1/guest-carts/"+cart.MaskedID+"/payment-information", `{"email":"a@example.com","paymentMethod":{"method":"checkmo"}}`)
		var id int64
		r.json(t, &id)
		orderIDs = append(orderIDs, id)
	}
	// Invoices an hour apart, the last in the order's first invoice of two.
	for i, id := range orderIDs {
		now = now.Add(time.Hour)
		body := `{"capture":false}`
		if i == 2 {
			var o struct {
				Items []struct {
					ItemID int64 `json:"item_id"`
				} `json:"items"`
			}
			h.do(t, "GET", "/rest/V1/orders/"+jsonNum(id), "", auth...).json(t, &o)
			body = `{"items":[{"order_item_id":` + jsonNum(o.Items[0].ItemID) + `,"qty":1}]}`
		}
		if r := h.do(t, "POST", "/rest/V1/order/"+jsonNum(id)+"/invoice", body, auth...); r.status != 200 {
			t.Fatalf("invoice order %d = %d %s", id, r.status, r.body)
		}
	}
	since := "searchCriteria[filterGroups][0][filters][0][field]=updated_at&searchCriteria[filterGroups][0][filters][0][conditionType]=gteq" +
		"&searchCriteria[filterGroups][0][filters][0][value]="
	sortAsc := "&searchCriteria[sortOrders][0][field]=updated_at&searchCriteria[sortOrders][0][direction]=ASC"
	tests := []struct {
		name      string
		query     string
		wantTotal int
		wantIDs   []int64 // order ids of the page, in order
	}{
		{"all", "searchCriteria=", 3, orderIDs},
		{"updated since the second", since + "2026-03-02%2012:00:00" + sortAsc, 2, orderIDs[1:]},
		{"newest first", since + "2026-03-02%2011:00:00&searchCriteria[sortOrders][0][field]=updated_at&searchCriteria[sortOrders][0][direction]=DESC", 3, []int64{orderIDs[2], orderIDs[1], orderIDs[0]}},
		{"paged", since + "2026-03-02%2011:00:00" + sortAsc + "&searchCriteria[pageSize]=2&searchCriteria[currentPage]=2", 3, orderIDs[2:]},
		{"by order", "searchCriteria[filterGroups][0][filters][0][field]=order_id&searchCriteria[filterGroups][0][filters][0][value]=" + jsonNum(orderIDs[0]), 1, orderIDs[:1]},
		{"none since", since + "2026-03-03%2000:00:00", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(t, "GET", "/rest/V1/invoices?"+tt.query, "", auth...)
			var res struct {
				Items []struct {
					EntityID          int64   `json:"entity_id"`
					IncrementID       string  `json:"increment_id"`
					OrderID           int64   `json:"order_id"`
					GrandTotal        float64 `json:"grand_total"`
					OrderCurrencyCode string  `json:"order_currency_code"`
					UpdatedAt         string  `json:"updated_at"`
					TotalQty          float64 `json:"total_qty"`
					Items             []struct {
						SKU string  `json:"sku"`
						Qty float64 `json:"qty"`
					} `json:"items"`
				} `json:"items"`
				TotalCount int `json:"total_count"`
			}
			r.json(t, &res)
			var got []int64
			for _, it := range res.Items {
				got = append(got, it.OrderID)
				if it.IncrementID == "" || it.OrderCurrencyCode != "USD" || it.UpdatedAt == "" || len(it.Items) != 1 || it.Items[0].SKU != "24-MB01" || it.TotalQty != it.Items[0].Qty {
					t.Errorf("invoice %+v lacks fields", it)
				}
			}
			if r.status != 200 || res.TotalCount != tt.wantTotal || fmt.Sprint(got) != fmt.Sprint(tt.wantIDs) {
				t.Errorf("GET /V1/invoices?%s = %d total %d orders %v; want %d %v", tt.query, r.status, res.TotalCount, got, tt.wantTotal, tt.wantIDs)
			}
		})
	}
	// Totals: two bags with flat-rate shipping at $5 each, no tax in Texas;
	// the partial invoice carries one bag and all the shipping.
	var res struct {
		Items []struct {
			GrandTotal float64 `json:"grand_total"`
		} `json:"items"`
	}
	h.do(t, "GET", "/rest/V1/invoices?searchCriteria=", "", auth...).json(t, &res)
	if len(res.Items) != 3 || res.Items[0].GrandTotal != 78 || res.Items[2].GrandTotal != 44 {
		t.Errorf("invoice totals = %+v; want 78, 78, 44", res.Items)
	}
	if r := h.do(t, "GET", "/rest/V1/invoices?searchCriteria=", ""); r.status != 401 {
		t.Errorf("GET /V1/invoices without a token = %d; want 401", r.status)
	}
	if r := h.do(t, "GET", "/rest/V1/invoices", "", auth...); r.status != 400 {
		t.Errorf("GET /V1/invoices without searchCriteria = %d; want 400", r.status)
	}
}

// Magento's customer_entity.email uses a case- and accent-insensitive
// collation (utf8mb4_general_ci): eq matches jane@gmáil.com to
// jane@gmail.com, and the two cannot both exist in one website.
func TestCustomerEmailCollation(t *testing.T) {
	h := newHarness(t, magentosandbox.Options{})
	auth := []string{"Authorization", "Bearer " + h.adminToken(t)}
	if r := h.do(t, "POST", "/rest/V1/customers", `{"customer":{"email":"jane@gmail.com","firstname":"Jane","lastname":"Doe"}}`, auth...); r.status != 200 {
		t.Fatalf("create jane@gmail.com = %d %s", r.status, r.body)
	}
	for _, q := range []string{"jane@gmail.com", "JANE@Gmail.com", "jane@gmáil.com", "jane@gma\u0301il.com", "JÄNE@GMAIL.COM"} {
		path := "/rest/V1/customers/search?searchCriteria[filterGroups][0][filters][0][field]=email&searchCriteria[filterGroups][0][filters][0][conditionType]=eq&searchCriteria[filterGroups][0][filters][0][value]=" + url.QueryEscape(q)
		r := h.do(t, "GET", path, "", auth...)
		var res struct {
			Items []struct {
				Email string `json:"email"`
			} `json:"items"`
		}
		r.json(t, &res)
		if r.status != 200 || len(res.Items) != 1 || res.Items[0].Email != "jane@gmail.com" {
			t.Errorf("search email eq %q = %d %s; want jane@gmail.com, as Magento's collation matches it", q, r.status, r.body)
		}
	}
	for _, q := range []string{"jane@gmаil.com" /* Cyrillic а */, "jane@gmail.co"} {
		path := "/rest/V1/customers/search?searchCriteria[filterGroups][0][filters][0][field]=email&searchCriteria[filterGroups][0][filters][0][value]=" + url.QueryEscape(q)
		if r := h.do(t, "GET", path, "", auth...); !strings.Contains(string(r.body), `"total_count":0`) {
			t.Errorf("search email eq %q = %d %s; want no match", q, r.status, r.body)
		}
	}
	r := h.do(t, "POST", "/rest/V1/customers", `{"customer":{"email":"jane@gmáil.com","firstname":"Mallory","lastname":"M"}}`, auth...)
	if r.status != 400 || !strings.Contains(string(r.body), "already exists") {
		t.Errorf("create jane@gmáil.com beside jane@gmail.com = %d %s; want 400 duplicate email", r.status, r.body)
	}
}

// With customer/create_account/confirm on, an account created with a
// password waits for its email confirmation: it carries a confirmation key
// and cannot log in with its password. An account created without a
// password never waits (Magento's ResourceModel\Customer::_beforeSave).
func TestConfirmAccounts(t *testing.T) {
	for _, confirm := range []bool{false, true} {
		h := newHarness(t, magentosandbox.Options{ConfirmAccounts: confirm})
		auth := []string{"Authorization", "Bearer " + h.adminToken(t)}
		var withPW, without struct {
			Confirmation string `json:"confirmation"`
		}
		r := h.do(t, "POST", "/rest/V1/customers", `{"customer":{"email":"pw@example.com","firstname":"P","lastname":"W"},"password":"Secret-pass1"}`, auth...)
		r.json(t, &withPW)
		r = h.do(t, "POST", "/rest/V1/customers", `{"customer":{"email":"nopw@example.com","firstname":"N","lastname":"P"}}`, auth...)
		r.json(t, &without)
		if (withPW.Confirmation != "") != confirm || without.Confirmation != "" {
			t.Errorf("confirm %v: confirmation with a password %q, without %q; want set only with a password and confirm on", confirm, withPW.Confirmation, without.Confirmation)
		}
		search := h.do(t, "GET", "/rest/V1/customers/search?searchCriteria[filterGroups][0][filters][0][field]=email&searchCriteria[filterGroups][0][filters][0][value]=pw@example.com", "", auth...)
		if got := strings.Contains(string(search.body), `"confirmation":"`); got != confirm {
			t.Errorf("confirm %v: search shows the confirmation key: %v (%s)", confirm, got, search.body)
		}
		login := h.do(t, "POST", "/rest/V1/integration/customer/token", `{"username":"pw@example.com","password":"Secret-pass1"}`)
		if want := map[bool]int{false: 200, true: 401}[confirm]; login.status != want || confirm && !strings.Contains(string(login.body), "isn't confirmed") {
			t.Errorf("confirm %v: password login = %d %s; want %d", confirm, login.status, login.body, want)
		}
	}
}
