package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/golang-jwt/jwt/v5"

	"github.com/magefleet/platform/checkout-service/internal/routing"
	"github.com/magefleet/platform/checkout-service/internal/sandboxgw"
	"github.com/magefleet/platform/internal/cache/cachetest"
	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/database"
	"github.com/magefleet/platform/internal/database/databasetest"
	"github.com/magefleet/platform/internal/jwk"
	"github.com/magefleet/platform/internal/magento"
	"github.com/magefleet/platform/internal/magentosandbox"
	"github.com/magefleet/platform/internal/paymentevent"
)

const serviceToken = "service-token-0123456789"

type harness struct {
	t       testing.TB
	cfg     *Config
	bases   []string
	mc      *magento.Client
	key     *ecdsa.PrivateKey
	spec    *openapi3.T
	router  routers.Router
	checked map[string]bool
}

// start runs a Magento sandbox, a JWKS server and n checkout-service
// instances sharing one MySQL database and one Redis.
func start(t testing.TB, n int) *harness {
	t.Helper()
	return startWith(t, n, nil)
}

func startWith(t testing.TB, n int, tweak func(*Config)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sb := magentosandbox.New(magentosandbox.Options{})
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sb.Serve(ctx, mln)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, err := jwk.Public("k1", &key.PublicKey)
		if err != nil {
			t.Error(err)
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{k}})
	}))
	t.Cleanup(jwks.Close)

	cfg := DefaultConfig()
	cfg.Env = "development"
	cfg.Log.Level = "warn"
	cfg.MySQL = databasetest.NewConfig(t)
	cfg.Redis = cachetest.NewConfig(t)
	cfg.Magento.BaseURL = "http://" + mln.Addr().String()
	cfg.Magento.AdminUsername, cfg.Magento.AdminPassword = "admin", "admin123"
	cfg.Auth.JWKSURL, cfg.Auth.Issuer, cfg.Auth.Audience = jwks.URL, "otp-test", "magefleet"
	cfg.Admin.ServiceTokens = []config.Secret{serviceToken}
	cfg.Checkout.ReconcileEvery = 200 * time.Millisecond
	cfg.Checkout.RulesPoll = 100 * time.Millisecond
	cfg.Checkout.WebhookTick = 100 * time.Millisecond
	caps := func() Gateway {
		return Gateway{Kind: "sandbox", Enabled: true, Methods: []string{"card", "upi"}, Currencies: []string{"USD"},
			SuccessRate: 1, SettleAfter: time.Second, WebhookSecret: "whsec_test",
			Fees: map[string]routing.Fee{"default": {PercentBps: 290, Fixed: 30}}}
	}
	cfg.Gateways = map[string]Gateway{"sandbox-a": caps(), "sandbox-b": caps()}
	cfg.Checkout.RulesFile = ""
	if tweak != nil {
		tweak(cfg)
	}
	h := &harness{t: t, cfg: cfg, key: key, checked: map[string]bool{}}
	errc := make(chan error, n)
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		h.bases = append(h.bases, "http://"+ln.Addr().String())
	}
	cfg.Checkout.PublicURL = h.bases[0]
	for _, ln := range lns {
		go func() { errc <- program().Serve(ctx, cfg, ln, nil) }()
	}
	t.Cleanup(func() {
		cancel()
		for range n {
			if err := <-errc; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	for _, b := range h.bases {
		waitReady(t, b)
	}
	h.mc, err = magento.New(cfg.Magento)
	if err != nil {
		t.Fatal(err)
	}
	h.spec, err = openapi3.NewLoader().LoadFromFile("openapi.yaml")
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if err := h.spec.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}
	h.spec.Servers = nil
	for _, b := range h.bases {
		h.spec.Servers = append(h.spec.Servers, &openapi3.Server{URL: b})
	}
	if h.router, err = gorillamux.NewRouter(h.spec); err != nil {
		t.Fatal(err)
	}
	return h
}

func waitReady(t testing.TB, base string) {
	t.Helper()
	for range 200 {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", base)
}

// do calls instance i and validates the request and the response against
// openapi.yaml.
func (h *harness) do(i int, method, path string, body any, hdr map[string]string) (int, map[string]any) {
	h.t.Helper()
	var rd []byte
	switch b := body.(type) {
	case nil:
	case string:
		rd = []byte(b)
	default:
		rd, _ = json.Marshal(b)
	}
	req, _ := http.NewRequest(method, h.bases[i]+path, bytes.NewReader(rd))
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)

	vreq, _ := http.NewRequest(method, h.bases[i]+path, bytes.NewReader(rd))
	vreq.Header = req.Header.Clone()
	route, params, err := h.router.FindRoute(vreq)
	if err != nil {
		h.t.Fatalf("%s %s is not in openapi.yaml: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if resp.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			h.t.Errorf("%s %s: request does not match openapi.yaml: %v", method, path, err)
		}
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	rin.SetBodyBytes(out)
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		h.t.Errorf("%s %s -> %d: response does not match openapi.yaml: %v\n%s", method, path, resp.StatusCode, err, out)
	}
	h.checked[route.Method+" "+route.Path] = true
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

func (h *harness) guestCart(skus ...string) string {
	h.t.Helper()
	ctx := context.Background()
	id, err := h.mc.CreateGuestCart(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, s := range skus {
		if _, err := h.mc.AddItem(ctx, magento.GuestCart(id), s, 1); err != nil {
			h.t.Fatal(err)
		}
	}
	return id
}

var address = map[string]any{"firstname": "Veronica", "lastname": "Costello", "street": []string{"6146 Honey Bluff Parkway"},
	"city": "Calder", "region": "California", "region_code": "CA", "region_id": 12, "postcode": "90210", "country_id": "US",
	"telephone": "5555550123"}

func (h *harness) readySession(i int, cart string) string {
	h.t.Helper()
	st, s := h.do(i, "POST", "/v1/sessions", map[string]any{"cart_id": cart}, nil)
	if st != 201 {
		h.t.Fatalf("POST /v1/sessions = %d %v", st, s)
	}
	id := s["id"].(string)
	st, s = h.do((i+1)%len(h.bases), "POST", "/v1/sessions/"+id+"/address", map[string]any{"email": "roni@example.com", "phone": "+15555550123", "shipping_address": address}, nil)
	if st != 200 || len(s["shipping_methods"].([]any)) == 0 {
		h.t.Fatalf("address = %d %v", st, s)
	}
	st, s = h.do(i, "POST", "/v1/sessions/"+id+"/shipping-method", map[string]any{"carrier_code": "flatrate", "method_code": "flatrate"}, nil)
	if st != 200 {
		h.t.Fatalf("shipping-method = %d %v", st, s)
	}
	return id
}

// TestTwoInstancesServeOneCheckout drives one checkout across two
// checkout-service instances sharing MySQL and Redis, checking every call
// against openapi.yaml.
func TestTwoInstancesServeOneCheckout(t *testing.T) {
	h := start(t, 2)
	cart := h.guestCart("MH01-XS-Black", "24-MB01")
	st, s := h.do(0, "POST", "/v1/sessions", map[string]any{"cart_id": cart}, nil)
	if st != 201 {
		t.Fatalf("session = %d %v", st, s)
	}
	id := s["id"].(string)
	totals := s["totals"].(map[string]any)
	if totals["subtotal"].(float64) != 8600 || totals["currency"] != "USD" {
		t.Fatalf("totals = %v; want subtotal 8600 USD from Magento", totals)
	}
	if st, _ := h.do(1, "GET", "/v1/sessions/"+id, nil, nil); st != 200 {
		t.Fatalf("GET session on the other instance = %d", st)
	}
	h.do(1, "POST", "/v1/sessions/"+id+"/address", map[string]any{"email": "roni@example.com", "phone": "+15555550123", "shipping_address": address}, nil)
	st, s = h.do(0, "POST", "/v1/sessions/"+id+"/shipping-method", map[string]any{"carrier_code": "flatrate", "method_code": "flatrate"}, nil)
	grand := s["totals"].(map[string]any)["grand_total"].(float64)
	if st != 200 || grand <= 8600 {
		t.Fatalf("shipping = %d, grand total %v", st, grand)
	}
	// I3: a price in the request is refused
	st, s = h.do(1, "POST", "/v1/sessions/"+id+"/payments", map[string]any{"method": "card", "token": sandboxgw.TokenOK, "price": 1}, map[string]string{"Idempotency-Key": "k1"})
	if st != 400 {
		t.Fatalf("payment with a price = %d %v; want 400", st, s)
	}
	st, p := h.do(1, "POST", "/v1/sessions/"+id+"/payments", map[string]any{"method": "card", "token": sandboxgw.TokenOK}, map[string]string{"Idempotency-Key": "k1"})
	if st != 201 || p["status"] != "captured" || p["amount"].(float64) != grand {
		t.Fatalf("payment = %d %v; want captured for %v", st, p, grand)
	}
	pid := p["id"].(string)
	// replay on the other instance: the same answer
	st, p2 := h.do(0, "POST", "/v1/sessions/"+id+"/payments", map[string]any{"method": "card", "token": sandboxgw.TokenOK}, map[string]string{"Idempotency-Key": "k1"})
	if st != 201 || p2["id"] != pid {
		t.Fatalf("replay = %d %v", st, p2)
	}
	st, _ = h.do(0, "POST", "/v1/sessions/"+id+"/payments", map[string]any{"method": "card", "token": sandboxgw.TokenDeclineSoft}, map[string]string{"Idempotency-Key": "k1"})
	if st != 409 {
		t.Fatalf("same key, other body = %d; want 409", st)
	}
	st, g := h.do(0, "GET", "/v1/payments/"+pid, nil, nil)
	if st != 200 || len(g["attempts"].([]any)) != 1 || g["routing"] == nil || g["magento_order"] != nil {
		t.Fatalf("GET payment = %d %v", st, g)
	}
	// the outbox event carries the order snapshot
	db, err := sqlOpen(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var payload []byte
	if err := db.QueryRow(`SELECT payload FROM outbox WHERE event_id = ?`, paymentevent.CapturedEventID(pid)).Scan(&payload); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	var ev paymentevent.Captured
	json.Unmarshal(payload, &ev)
	if ev.Order.MaskedQuoteID != cart || len(ev.Order.Items) != 2 || ev.Order.Totals.GrandTotal != int64(grand) || ev.Order.ShippingAddress.CountryID != "US" {
		t.Fatalf("outbox payload = %s", payload)
	}
	// the bridge records the order; the API shows it
	db.Exec(`UPDATE payments SET magento_order_id = 7, magento_increment_id = '000000007' WHERE id = ?`, pid)
	_, g = h.do(1, "GET", "/v1/payments/"+pid, nil, nil)
	if mo, _ := g["magento_order"].(map[string]any); mo == nil || mo["increment_id"] != "000000007" {
		t.Fatalf("magento_order = %v", g["magento_order"])
	}
	// refunds need the service token, once per refund id
	if st, _ := h.do(0, "POST", "/v1/payments/"+pid+"/refunds", map[string]any{"amount": 1000, "refund_id": "magento-cm-1"}, nil); st != 401 {
		t.Fatalf("refund without token = %d", st)
	}
	auth := map[string]string{"Authorization": "Bearer " + serviceToken}
	st, r1 := h.do(0, "POST", "/v1/payments/"+pid+"/refunds", map[string]any{"amount": 1000, "refund_id": "magento-cm-1"}, auth)
	st2, r2 := h.do(1, "POST", "/v1/payments/"+pid+"/refunds", map[string]any{"amount": 1000, "refund_id": "magento-cm-1"}, auth)
	if st != 201 || st2 != 201 || r1["status"] != "succeeded" || r1["gateway_reference"] != r2["gateway_reference"] {
		t.Fatalf("refunds = %d %v / %d %v", st, r1, st2, r2)
	}
	resp, err := http.Get(h.bases[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	// No rules: the router may pick either gateway (it explores), so look for
	// the one the payment went to.
	want := fmt.Sprintf(`checkout_payments_total{gateway=%q,status="captured"} 1`, p["gateway"])
	if !bytes.Contains(m, []byte(want)) {
		t.Errorf("/metrics lacks %s:\n%s", want, m)
	}
}

func TestCustomerSessionWithAccessToken(t *testing.T) {
	h := start(t, 1)
	ctx := context.Background()
	cartID, err := h.mc.CreateCartForCustomer(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.mc.AddItem(ctx, magento.AdminCart(cartID), "24-MB01", 2); err != nil {
		t.Fatal(err)
	}
	tok := func(sub string, cust int64, exp time.Duration) string {
		j := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": sub, "iss": "otp-test", "aud": "magefleet", "magento_customer_id": cust, "exp": time.Now().Add(exp).Unix()})
		j.Header["kid"] = "k1"
		s, err := j.SignedString(h.key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := map[string]string{"Authorization": "Bearer " + tok("id-1", 1, time.Minute)}
	st, s := h.do(0, "POST", "/v1/sessions", nil, good)
	if st != 201 || s["cart"].(map[string]any)["kind"] != "customer" || s["totals"].(map[string]any)["subtotal"].(float64) != 6800 {
		t.Fatalf("customer session = %d %v", st, s)
	}
	id := s["id"].(string)
	if st, _ := h.do(0, "GET", "/v1/sessions/"+id, nil, nil); st != 404 {
		t.Fatalf("customer session without the token = %d; want 404", st)
	}
	if st, _ := h.do(0, "GET", "/v1/sessions/"+id, nil, map[string]string{"Authorization": "Bearer " + tok("id-2", 2, time.Minute)}); st != 404 {
		t.Fatalf("customer session with another customer's token = %d; want 404", st)
	}
	if st, _ := h.do(0, "POST", "/v1/sessions", nil, map[string]string{"Authorization": "Bearer " + tok("id-1", 1, -time.Minute)}); st != 401 {
		t.Fatalf("expired token = %d; want 401", st)
	}
	if st, _ := h.do(0, "GET", "/v1/sessions/"+id, nil, good); st != 200 {
		t.Fatalf("own session = %d", st)
	}
}

func TestAdminRulesReloadOnEveryInstance(t *testing.T) {
	h := start(t, 2)
	auth := map[string]string{"Authorization": "Bearer " + serviceToken}
	if st, _ := h.do(0, "GET", "/v1/admin/routing/rules", nil, nil); st != 401 {
		t.Fatalf("rules without token = %d", st)
	}
	bad := `{"default_selection": {"type": "priority", "data": ["nope"]}}`
	st, e := h.do(0, "PUT", "/v1/admin/routing/rules", bad, auth)
	if st != 400 || !strings.Contains(fmt.Sprint(e), "default_selection.data[0]") {
		t.Fatalf("invalid rules = %d %v", st, e)
	}
	// some real payments for the dry-run
	for range 3 {
		sid := h.readySession(0, h.guestCart("24-MB01"))
		if st, p := h.do(0, "POST", "/v1/sessions/"+sid+"/payments", map[string]any{"method": "card", "token": sandboxgw.TokenOK}, map[string]string{"Idempotency-Key": "x"}); st != 201 {
			t.Fatalf("payment = %d %v", st, p)
		}
	}
	draft := `{"default_selection": {"type": "priority", "data": ["sandbox-b", "sandbox-a"]}}`
	st, rep := h.do(1, "POST", "/v1/admin/routing/dry-run", draft, auth)
	if st != 200 || rep["evaluated"].(float64) != 3 {
		t.Fatalf("dry-run = %d %v", st, rep)
	}
	st, saved := h.do(0, "PUT", "/v1/admin/routing/rules", draft, auth)
	if st != 200 || saved["version"].(float64) != 1 {
		t.Fatalf("PUT rules = %d %v", st, saved)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, got := h.do(1, "GET", "/v1/admin/routing/rules", nil, auth)
		if got["version"].(float64) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance 2 still has rules %v", got["version"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	sid := h.readySession(1, h.guestCart("24-MB01"))
	_, p := h.do(1, "POST", "/v1/sessions/"+sid+"/payments", map[string]any{"method": "card", "token": sandboxgw.TokenOK}, map[string]string{"Idempotency-Key": "y"})
	if p["gateway"] != "sandbox-b" {
		t.Fatalf("after the rule change the payment went to %v; want sandbox-b", p["gateway"])
	}
	if st, gs := h.do(0, "GET", "/v1/admin/gateways", nil, auth); st != 200 || len(gs["gateways"].([]any)) != 2 {
		t.Fatalf("gateways = %d %v", st, gs)
	}
}

func TestWebhooksAnd3DSOverHTTP(t *testing.T) {
	h := start(t, 1)
	sid := h.readySession(0, h.guestCart("24-MB01"))
	st, p := h.do(0, "POST", "/v1/sessions/"+sid+"/payments", map[string]any{"method": "card", "token": sandboxgw.Token3DS}, map[string]string{"Idempotency-Key": "k"})
	if st != 201 || p["status"] != "requires_action" {
		t.Fatalf("3ds payment = %d %v", st, p)
	}
	url := p["next_action"].(map[string]any)["url"].(string)
	resp, err := http.Get(url)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("3ds page: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.PostForm(url, map[string][]string{"result": {"approve"}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("3ds approve: %v %v", resp, err)
	}
	resp.Body.Close()
	_, g := h.do(0, "GET", "/v1/payments/"+p["id"].(string), nil, nil)
	if g["status"] != "captured" {
		t.Fatalf("after 3ds = %v", g["status"])
	}
	// webhooks to the gateway the payment went to: good, tampered, stale, replayed
	hook := "/webhooks/" + g["gateway"].(string)
	body := []byte(`{"id":"evt_1","type":"charge.updated","reference":"` + g["attempts"].([]any)[0].(map[string]any)["gateway_reference"].(string) + `","status":"captured"}`)
	post := func(sig string, b []byte) int {
		st, _ := h.do(0, "POST", hook, string(b), map[string]string{sandboxgw.SignatureHeader: sig})
		return st
	}
	now := time.Now()
	if st := post(sandboxgw.Sign("whsec_test", body, now), body); st != 200 {
		t.Fatalf("good webhook = %d", st)
	}
	tampered := bytes.Replace(body, []byte("captured"), []byte("failed"), 1)
	if st := post(sandboxgw.Sign("whsec_test", body, now), tampered); st != 401 {
		t.Fatalf("tampered webhook = %d", st)
	}
	if st := post(sandboxgw.Sign("whsec_test", body, now.Add(-time.Hour)), body); st != 401 {
		t.Fatalf("stale webhook = %d", st)
	}
	_, dup := h.do(0, "POST", hook, string(body), map[string]string{sandboxgw.SignatureHeader: sandboxgw.Sign("whsec_test", body, now)})
	if dup["duplicate"] != true {
		t.Fatalf("replayed webhook = %v", dup)
	}
}

func sqlOpen(cfg *Config) (*sql.DB, error) { return database.Open(context.Background(), cfg.MySQL) }

// post sends a JSON POST without OpenAPI validation (for benchmarks).
func (h *harness) post(url, body, key string) (int, []byte) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		h.t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// readySessionQuiet prepares a payable session without OpenAPI validation.
func (h *harness) readySessionQuiet(cart string) string {
	st, b := h.post(h.bases[0]+"/v1/sessions", `{"cart_id":"`+cart+`"}`, "")
	var s map[string]any
	json.Unmarshal(b, &s)
	if st != 201 {
		h.t.Fatalf("session = %d %s", st, b)
	}
	id := s["id"].(string)
	ab, _ := json.Marshal(map[string]any{"email": "roni@example.com", "shipping_address": address})
	if st, b := h.post(h.bases[0]+"/v1/sessions/"+id+"/address", string(ab), ""); st != 200 {
		h.t.Fatalf("address = %d %s", st, b)
	}
	if st, b := h.post(h.bases[0]+"/v1/sessions/"+id+"/shipping-method", `{"carrier_code":"flatrate","method_code":"flatrate"}`, ""); st != 200 {
		h.t.Fatalf("shipping = %d %s", st, b)
	}
	return id
}

// TestVoidOverHTTP voids an authorised payment the way magento-bridge does
// when an order is cancelled in Magento before capture.
func TestVoidOverHTTP(t *testing.T) {
	h := startWith(t, 2, func(c *Config) { c.Checkout.Capture = false })
	sid := h.readySession(0, h.guestCart("24-MB01"))
	st, p := h.do(0, "POST", "/v1/sessions/"+sid+"/payments", map[string]any{"method": "card", "token": "tok_sandbox_ok"},
		map[string]string{"Idempotency-Key": "void-1"})
	if st != 201 || p["status"] != "authorized" {
		t.Fatalf("pay = %d %v; want an authorised payment", st, p)
	}
	pid := p["id"].(string)
	if st, _ := h.do(0, "POST", "/v1/payments/"+pid+"/void", map[string]any{"reason": "cancelled"}, nil); st != 401 {
		t.Fatalf("void without the service token = %d; want 401", st)
	}
	auth := map[string]string{"Authorization": "Bearer " + serviceToken}
	if st, body := h.do(0, "POST", "/v1/payments/"+pid+"/void", map[string]any{"reason": "cancelled", "amount": 5}, auth); st != 400 {
		t.Fatalf("void with an unknown field = %d %v; want 400", st, body)
	}
	for i := range 2 { // either instance, any number of times
		st, v := h.do(i, "POST", "/v1/payments/"+pid+"/void", map[string]any{"reason": "order cancelled in Magento"}, auth)
		if st != 200 || v["status"] != "voided" {
			t.Fatalf("void on instance %d = %d %v; want 200 voided", i, st, v)
		}
	}
	if st, _ := h.do(1, "POST", "/v1/payments/pay_unknown/void", map[string]any{}, auth); st != 404 {
		t.Fatalf("void of an unknown payment = %d; want 404", st)
	}
}

// TestCaptureOverHTTP captures an authorised payment the way magento-bridge
// does when an order placed un-invoiced is invoiced in Magento.
func TestCaptureOverHTTP(t *testing.T) {
	h := startWith(t, 2, func(c *Config) { c.Checkout.Capture, c.Checkout.AnnounceAuthorized = false, true })
	sid := h.readySession(0, h.guestCart("24-MB01"))
	st, p := h.do(0, "POST", "/v1/sessions/"+sid+"/payments", map[string]any{"method": "card", "token": sandboxgw.TokenOK},
		map[string]string{"Idempotency-Key": "capture-1"})
	if st != 201 || p["status"] != "authorized" {
		t.Fatalf("pay = %d %v; want an authorised payment", st, p)
	}
	pid, amount := p["id"].(string), int64(p["amount"].(float64))
	path := "/v1/payments/" + pid + "/capture"
	body := map[string]any{"capture_id": "magento-inv-123", "amount": amount}
	if st, _ := h.do(0, "POST", path, body, nil); st != 401 {
		t.Fatalf("capture without the service token = %d; want 401", st)
	}
	if st, _ := h.do(0, "POST", path, body, map[string]string{"Authorization": "Bearer not-the-token"}); st != 401 {
		t.Fatalf("capture with a wrong token = %d; want 401", st)
	}
	auth := map[string]string{"Authorization": "Bearer " + serviceToken}
	for _, bad := range []map[string]any{
		{"amount": amount},
		{"capture_id": "", "amount": amount},
		{"capture_id": strings.Repeat("x", 65), "amount": amount},
		{"capture_id": "magento-inv-123", "amount": 0},
		{"capture_id": "magento-inv-123", "amount": amount, "currency": "USD"},
	} {
		if st, e := h.do(0, "POST", path, bad, auth); st != 400 {
			t.Fatalf("capture %v = %d %v; want 400", bad, st, e)
		}
	}
	if st, _ := h.do(1, "POST", "/v1/payments/pay_unknown/capture", body, auth); st != 404 {
		t.Fatalf("capture of an unknown payment = %d; want 404", st)
	}
	st, e := h.do(0, "POST", path, map[string]any{"capture_id": "magento-inv-123", "amount": amount - 1}, auth)
	if msg, _ := e["error"].(map[string]any)["message"].(string); st != 409 || !strings.Contains(msg, "invoice the whole order") {
		t.Fatalf("partial capture = %d %v; want 409 asking for the whole order", st, e)
	}
	st, c := h.do(0, "POST", path, body, auth)
	if st != 200 || c["status"] != "captured" || c["capture_id"] != "magento-inv-123" || c["captured_at"] == nil {
		t.Fatalf("capture = %d %v; want 200 captured with the capture id and time", st, c)
	}
	// a retry on either instance, with this or another capture id, is the same capture
	for i, id := range []string{"magento-inv-123", "magento-inv-124"} {
		st, again := h.do(i, "POST", path, map[string]any{"capture_id": id, "amount": amount}, auth)
		if st != 200 || again["status"] != "captured" || again["capture_id"] != "magento-inv-123" || again["captured_at"] != c["captured_at"] {
			t.Fatalf("capture again (%s) on instance %d = %d %v; want the first capture", id, i, st, again)
		}
	}
	if st, g := h.do(1, "GET", "/v1/payments/"+pid, nil, nil); st != 200 || g["status"] != "captured" || g["capture_id"] != "magento-inv-123" {
		t.Fatalf("GET after capture = %d %v", st, g)
	}
	if st, _ := h.do(0, "POST", "/v1/payments/"+pid+"/void", map[string]any{}, auth); st != 409 {
		t.Fatalf("void of a captured payment = %d; want 409", st)
	}
	if st, r := h.do(1, "POST", "/v1/payments/"+pid+"/refunds", map[string]any{"amount": amount, "refund_id": "magento-cm-1"}, auth); st != 201 || r["status"] != "succeeded" {
		t.Fatalf("refund after capture = %d %v; want 201 succeeded", st, r)
	}
	db, err := sqlOpen(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var events int
	if err := db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE aggregate_id = ?`, pid).Scan(&events); err != nil || events != 1 {
		t.Fatalf("outbox events = %d, %v; want the authorisation's one", events, err)
	}
	resp, err := http.Get(h.bases[0] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	want := fmt.Sprintf(`checkout_capture_requests_total{gateway=%q,status="captured"} 2`, p["gateway"])
	if !bytes.Contains(m, []byte(want)) {
		t.Errorf("/metrics lacks %s", want)
	}

	// a voided payment is not captured
	sid = h.readySession(0, h.guestCart("24-MB01"))
	_, p = h.do(0, "POST", "/v1/sessions/"+sid+"/payments", map[string]any{"method": "card", "token": sandboxgw.TokenOK},
		map[string]string{"Idempotency-Key": "capture-2"})
	pid = p["id"].(string)
	if st, v := h.do(0, "POST", "/v1/payments/"+pid+"/void", map[string]any{"reason": "order cancelled"}, auth); st != 200 || v["status"] != "voided" {
		t.Fatalf("void = %d %v", st, v)
	}
	if st, e := h.do(1, "POST", "/v1/payments/"+pid+"/capture", map[string]any{"capture_id": "magento-inv-125", "amount": p["amount"]}, auth); st != 409 {
		t.Fatalf("capture of a voided payment = %d %v; want 409", st, e)
	}
}
