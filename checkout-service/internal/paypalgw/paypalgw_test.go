package paypalgw_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/paypalgw"
	"github.com/magefleet/platform/internal/errs"
)

func chargeRequest(capture bool) gateway.ChargeRequest {
	return gateway.ChargeRequest{
		PaymentID: "pay_123", Attempt: 1, IdempotencyKey: "pay_123_att_1",
		Amount: 1050, Currency: "USD", Method: gateway.PayPal, Capture: capture,
		ReturnURL: "https://shop.example/checkout/paypal/return", Description: "Order 1000001",
	}
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if !errors.Is(err, &errs.Error{Code: code}) {
		tb.Fatalf("error = %v; want %s", err, code)
	}
}

// paths lists "METHOD path" of requests, the token request left out.
func paths(calls []sent) []string {
	var p []string
	for _, c := range calls {
		if c.Path != "/v1/oauth2/token" {
			p = append(p, c.Method+" "+c.Path)
		}
	}
	return p
}

func lastCall(tb testing.TB, calls []sent, path string) sent {
	tb.Helper()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Path == path {
			return calls[i]
		}
	}
	tb.Fatalf("no request to %s among %v", path, paths(calls))
	return sent{}
}

// TestCreateOrder pins POST /v2/checkout/orders, validated against
// paypal-checkout-orders-v2.json by the fake.
func TestCreateOrder(t *testing.T) {
	for _, capture := range []bool{true, false} {
		f := newFake(t)
		g := f.gateway(t)
		res, err := g.Charge(context.Background(), chargeRequest(capture))
		if err != nil {
			t.Fatalf("Charge(capture=%v) = %v", capture, err)
		}
		if res.Status != gateway.RequiresAction || res.NextAction == nil || res.NextAction.Type != "approve" ||
			!strings.HasPrefix(res.NextAction.URL, "https://www.sandbox.paypal.com/checkoutnow?token=") || res.Reference == "" {
			t.Fatalf("Charge(capture=%v) = %+v, %+v; want requires_action with the approval link", capture, res, res.NextAction)
		}
		c := lastCall(t, f.taken(), "/v2/checkout/orders")
		intent := map[bool]string{true: "CAPTURE", false: "AUTHORIZE"}[capture]
		want := map[string]any{
			"intent": intent,
			"purchase_units": []any{map[string]any{
				"reference_id": "pay_123", "custom_id": "pay_123:1", "description": "Order 1000001",
				"amount": map[string]any{"currency_code": "USD", "value": "10.50"},
			}},
			"payment_source": map[string]any{"paypal": map[string]any{"experience_context": map[string]any{
				"user_action": "PAY_NOW", "return_url": "https://shop.example/checkout/paypal/return", "cancel_url": "https://shop.example/checkout/paypal/return",
			}}},
		}
		if got := c.json(t); !reflect.DeepEqual(got, want) {
			t.Errorf("create order body = %v; want %v", got, want)
		}
		if c.Header.Get("PayPal-Request-Id") != "pay_123_att_1" || c.Header.Get("Prefer") != "return=representation" ||
			c.Header.Get("Authorization") != "Bearer A21AAtoken1" || c.Header.Get("Content-Type") != "application/json" {
			t.Errorf("create order headers = %v", c.Header)
		}
	}
}

func TestValue(t *testing.T) {
	tests := []struct {
		minor    int64
		currency string
		want     string
	}{
		{1050, "USD", "10.50"},
		{5, "USD", "0.05"},
		{100, "EUR", "1.00"},
		{500, "JPY", "500"},
		{15000, "KRW", "15000"},
		{1234, "KWD", "1.234"},
		{7, "BHD", "0.007"},
		{150000, "HUF", "1500"}, // whole forints at PayPal
		{150050, "HUF", ""},
		{123400, "TWD", "1234"},
		{0, "USD", ""},
		{-100, "USD", ""},
	}
	for _, tt := range tests {
		got, ok := paypalgw.Value(tt.minor, tt.currency)
		if (tt.want == "") == ok || got != tt.want {
			t.Errorf("Value(%d, %s) = %q, %v; want %q", tt.minor, tt.currency, got, ok, tt.want)
		}
		if ok {
			back, err := paypalgw.Minor(got, tt.currency)
			if err != nil || back != tt.minor {
				t.Errorf("Minor(%q, %s) = %d, %v; want %d", got, tt.currency, back, err, tt.minor)
			}
		}
	}
	for _, bad := range []string{"1.234", "-1.00", "", "1e3"} {
		if _, err := paypalgw.Minor(bad, "USD"); err == nil {
			t.Errorf("Minor(%q, USD) = nil error; want one", bad)
		}
	}
}

// TestAmountsOnTheWire sends zero- and three-decimal amounts through the
// spec-validated create.
func TestAmountsOnTheWire(t *testing.T) {
	for _, tt := range []struct {
		minor    int64
		currency string
		want     string
	}{{500, "JPY", "500"}, {1230, "KWD", "1.230"}, {150000, "HUF", "1500"}} {
		f := newFake(t)
		req := chargeRequest(true)
		req.Amount, req.Currency = tt.minor, tt.currency
		if _, err := f.gateway(t).Charge(context.Background(), req); err != nil {
			t.Fatalf("Charge(%d %s) = %v", tt.minor, tt.currency, err)
		}
		body := lastCall(t, f.taken(), "/v2/checkout/orders").json(t)
		amount := body["purchase_units"].([]any)[0].(map[string]any)["amount"].(map[string]any)
		if amount["value"] != tt.want || amount["currency_code"] != tt.currency {
			t.Errorf("Charge(%d %s) sent amount %v; want %s", tt.minor, tt.currency, amount, tt.want)
		}
	}
	f := newFake(t)
	req := chargeRequest(true)
	req.Amount, req.Currency = 150050, "HUF"
	res, err := f.gateway(t).Charge(context.Background(), req)
	if err != nil || res.Status != gateway.Failed || res.Decline.Bucket != gateway.Capability {
		t.Errorf("Charge(1500.50 HUF) = %+v, %v; want a capability decline", res, err)
	}
	if p := paths(f.taken()); len(p) != 0 {
		t.Errorf("Charge(1500.50 HUF) sent %v; want nothing", p)
	}
}

func TestCaptureFlow(t *testing.T) {
	f := newFake(t)
	g := f.gateway(t)
	ctx := context.Background()
	req := chargeRequest(true)
	res, err := g.Charge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	orderID := res.Reference

	// Back from PayPal before approving: still waiting for the buyer.
	req.Token = orderID
	res, err = g.Charge(ctx, req)
	if err != nil || res.Status != gateway.RequiresAction {
		t.Fatalf("Charge(unapproved) = %+v, %v; want requires_action", res, err)
	}

	f.approve(orderID)
	f.taken()
	res, err = g.Charge(ctx, req)
	if err != nil {
		t.Fatalf("Charge(approved) = %v", err)
	}
	if res.Status != gateway.Captured || res.Reference != orderID || res.Fee != 66 {
		t.Errorf("Charge(approved) = %+v; want captured %s with fee 66", res, orderID)
	}
	calls := f.taken()
	want := []string{"GET /v2/checkout/orders/" + orderID, "POST /v2/checkout/orders/" + orderID + "/capture"}
	if got := paths(calls); !reflect.DeepEqual(got, want) {
		t.Errorf("completion sent %v; want %v", got, want)
	}
	if c := lastCall(t, calls, "/v2/checkout/orders/"+orderID+"/capture"); c.Header.Get("PayPal-Request-Id") != "pay_123_att_1-capture" {
		t.Errorf("capture PayPal-Request-Id = %q", c.Header.Get("PayPal-Request-Id"))
	}

	// Completing again (a retry after a lost answer) reports the capture.
	res, err = g.Charge(ctx, req)
	if err != nil || res.Status != gateway.Captured {
		t.Errorf("Charge(again) = %+v, %v; want captured", res, err)
	}
	res, err = g.Lookup(ctx, req, orderID)
	if err != nil || res.Status != gateway.Captured {
		t.Errorf("Lookup(%s) = %+v, %v; want captured", orderID, res, err)
	}

	f.taken()
	rr, err := g.Refund(ctx, gateway.RefundRequest{RefundID: "ref_1", Reference: orderID, Amount: 500, Currency: "USD", IdempotencyKey: "refund_ref_1"})
	if err != nil || rr.Status != gateway.Captured || rr.Reference == "" {
		t.Fatalf("Refund() = %+v, %v; want a completed refund", rr, err)
	}
	c := lastCall(t, f.taken(), "/v2/payments/captures/3C679366HH908993F/refund")
	wantBody := map[string]any{"amount": map[string]any{"currency_code": "USD", "value": "5.00"}, "custom_id": "ref_1"}
	if got := c.json(t); !reflect.DeepEqual(got, wantBody) || c.Header.Get("PayPal-Request-Id") != "refund_ref_1" {
		t.Errorf("refund = %v with id %q; want %v", got, c.Header.Get("PayPal-Request-Id"), wantBody)
	}
}

func TestAuthorizeCaptureVoid(t *testing.T) {
	f := newFake(t)
	g := f.gateway(t)
	ctx := context.Background()

	authorize := func(req gateway.ChargeRequest) string {
		t.Helper()
		res, err := g.Charge(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		f.approve(res.Reference)
		req.Token = res.Reference
		res, err = g.Charge(ctx, req)
		if err != nil || res.Status != gateway.Authorized {
			t.Fatalf("Charge(approved, authorise) = %+v, %v; want authorized", res, err)
		}
		return res.Reference
	}

	orderID := authorize(chargeRequest(false))
	f.taken()
	res, err := g.Capture(ctx, orderID, 1050, "USD")
	if err != nil || res.Status != gateway.Captured || res.Reference != orderID {
		t.Fatalf("Capture() = %+v, %v; want captured", res, err)
	}
	c := lastCall(t, f.taken(), "/v2/payments/authorizations/0AW2184448108334S/capture")
	want := map[string]any{"final_capture": true, "amount": map[string]any{"currency_code": "USD", "value": "10.50"}}
	if got := c.json(t); !reflect.DeepEqual(got, want) {
		t.Errorf("capture authorization body = %v; want %v", got, want)
	}
	res, err = g.Capture(ctx, orderID, 1050, "USD")
	if err != nil || res.Status != gateway.Captured {
		t.Errorf("Capture(again) = %+v, %v; want captured", res, err)
	}

	req := chargeRequest(false)
	req.PaymentID, req.IdempotencyKey = "pay_456", "pay_456_att_1"
	orderID = authorize(req)
	res, err = g.Void(ctx, orderID)
	if err != nil || res.Status != gateway.Failed || res.Decline.Code != "canceled" {
		t.Fatalf("Void() = %+v, %v; want failed/canceled", res, err)
	}
	res, err = g.Lookup(ctx, req, orderID)
	if err != nil || res.Status != gateway.Failed {
		t.Errorf("Lookup(voided) = %+v, %v; want failed", res, err)
	}
	_, err = g.Capture(ctx, orderID, 1050, "USD")
	wantCode(t, err, errs.Conflict)
}

func TestCompleteWrongOrder(t *testing.T) {
	f := newFake(t)
	g := f.gateway(t)
	ctx := context.Background()
	other := chargeRequest(true)
	other.PaymentID, other.IdempotencyKey = "pay_999", "pay_999_att_1"
	res, err := g.Charge(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	f.approve(res.Reference)

	req := chargeRequest(true)
	req.Token = res.Reference // another payment's approved order
	_, err = g.Charge(ctx, req)
	wantCode(t, err, errs.Conflict)

	req.Token = "NOSUCHORDER1"
	_, err = g.Charge(ctx, req)
	wantCode(t, err, errs.Conflict)

	for _, c := range f.taken() {
		if strings.HasSuffix(c.Path, "/capture") {
			t.Errorf("sent %s %s for a foreign order", c.Method, c.Path)
		}
	}
}

func TestCaptureDeclines(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantErr    string
		wantStatus gateway.Status
		wantBucket gateway.Bucket
		wantAction bool
	}{
		{name: "instrument declined", status: 422, body: string(apiError("UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED", "The instrument presented was declined.")),
			wantStatus: gateway.Failed, wantBucket: gateway.ShopperFixable, wantAction: true},
		{name: "transaction refused", status: 422, body: string(apiError("UNPROCESSABLE_ENTITY", "TRANSACTION_REFUSED", "refused")),
			wantStatus: gateway.Failed, wantBucket: gateway.Generic},
		{name: "payer account locked", status: 422, body: string(apiError("UNPROCESSABLE_ENTITY", "PAYER_ACCOUNT_LOCKED_OR_CLOSED", "locked")),
			wantStatus: gateway.Failed, wantBucket: gateway.Hard},
		{name: "payer action required", status: 422, body: string(apiError("UNPROCESSABLE_ENTITY", "PAYER_ACTION_REQUIRED", "action")),
			wantStatus: gateway.RequiresAction, wantAction: true},
		{name: "completion in progress", status: 422, body: string(apiError("UNPROCESSABLE_ENTITY", "ORDER_COMPLETION_IN_PROGRESS", "in progress")),
			wantStatus: gateway.Processing},
		{name: "internal error", status: 500, body: string(apiError("INTERNAL_SERVER_ERROR", "INTERNAL_SERVICE_ERROR", "oops")), wantErr: errs.OutcomeUnknown},
		{name: "unavailable", status: 503, body: `upstream connect error`, wantErr: errs.OutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			g := f.gateway(t)
			req := chargeRequest(true)
			res, err := g.Charge(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			f.approve(res.Reference)
			f.override = func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/capture") {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
				return true
			}
			req.Token = res.Reference
			res, err = g.Charge(context.Background(), req)
			if tt.wantErr != "" {
				wantCode(t, err, tt.wantErr)
				return
			}
			if err != nil || res.Status != tt.wantStatus {
				t.Fatalf("Charge(complete) = %+v, %v; want %s", res, err, tt.wantStatus)
			}
			if tt.wantBucket != "" && (res.Decline == nil || res.Decline.Bucket != tt.wantBucket) {
				t.Errorf("Decline = %+v; want bucket %s", res.Decline, tt.wantBucket)
			}
			if tt.wantAction != (res.NextAction != nil && res.NextAction.URL != "") {
				t.Errorf("NextAction = %+v; want approval link %v", res.NextAction, tt.wantAction)
			}
		})
	}
}

func TestCreateFailures(t *testing.T) {
	tests := []struct {
		name     string
		override func(w http.ResponseWriter, r *http.Request) bool
		wantErr  string
		wantCode string
	}{
		{name: "timeout", override: func(w http.ResponseWriter, r *http.Request) bool {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return true
		}, wantErr: errs.OutcomeUnknown},
		{name: "connection reset", override: func(w http.ResponseWriter, r *http.Request) bool {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
			return true
		}, wantErr: errs.OutcomeUnknown},
		{name: "bad request", override: func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(400)
			w.Write(apiError("INVALID_REQUEST", "INVALID_PARAMETER_VALUE", "bad"))
			return true
		}, wantErr: errs.Unavailable},
		{name: "currency refused", override: func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(422)
			w.Write(apiError("UNPROCESSABLE_ENTITY", "CURRENCY_NOT_SUPPORTED", "Currency code is not supported."))
			return true
		}, wantCode: "currency_not_supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.override = tt.override
			res, err := f.gateway(t).Charge(context.Background(), chargeRequest(true))
			if tt.wantErr != "" {
				wantCode(t, err, tt.wantErr)
				return
			}
			if err != nil || res.Status != gateway.Failed || res.Decline.Code != tt.wantCode || res.Decline.Bucket != gateway.Capability {
				t.Errorf("Charge() = %+v, %v; want capability decline %s", res, err, tt.wantCode)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = newGateway(t, "http://"+addr).Charge(context.Background(), chargeRequest(true))
		wantCode(t, err, errs.Unavailable)
	})
}

func TestLookup(t *testing.T) {
	f := newFake(t)
	g := f.gateway(t)
	ctx := context.Background()
	req := chargeRequest(true)

	res, err := g.Lookup(ctx, req, "NOSUCHORDER1")
	if err != nil || res.Status != gateway.NotFound {
		t.Errorf("Lookup(unknown) = %+v, %v; want not_found", res, err)
	}

	first, err := g.Charge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Without a reference, Lookup replays the create with the same
	// PayPal-Request-Id and gets the same order back.
	res, err = g.Lookup(ctx, req, "")
	if err != nil || res.Reference != first.Reference || res.Status != gateway.RequiresAction {
		t.Errorf("Lookup(by key) = %+v, %v; want %s requires_action", res, err, first.Reference)
	}
	f.approve(first.Reference)
	res, err = g.Lookup(ctx, req, first.Reference)
	if err != nil || res.Status != gateway.Processing {
		t.Errorf("Lookup(approved) = %+v, %v; want processing", res, err)
	}
}

func TestTokenCache(t *testing.T) {
	f := newFake(t)
	g := f.gateway(t)
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	g.Now = func() time.Time { return now }
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := g.Lookup(ctx, chargeRequest(true), "NOSUCHORDER1"); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokens != 1 {
		t.Errorf("token requests = %d after 3 calls; want 1", f.tokens)
	}
	now = now.Add(9 * time.Hour) // expires_in 32400 s: renew a minute early
	if _, err := g.Lookup(ctx, chargeRequest(true), "NOSUCHORDER1"); err != nil {
		t.Fatal(err)
	}
	if f.tokens != 2 {
		t.Errorf("token requests = %d after expiry; want 2", f.tokens)
	}
	// PayPal revokes the token early: the adapter renews it once and retries.
	f.mu.Lock()
	f.token = "revoked"
	f.mu.Unlock()
	if _, err := g.Lookup(ctx, chargeRequest(true), "NOSUCHORDER1"); err != nil {
		t.Fatalf("Lookup() after revocation = %v", err)
	}
	if f.tokens != 3 {
		t.Errorf("token requests = %d after revocation; want 3", f.tokens)
	}
}

func TestConfigValidate(t *testing.T) {
	good := paypalgw.DefaultConfig()
	good.ClientID, good.ClientSecret, good.WebhookID = clientID, clientSecret, webhookID
	tests := []struct {
		name   string
		mutate func(*paypalgw.Config)
		ok     bool
	}{
		{"good", func(*paypalgw.Config) {}, true},
		{"no client id", func(c *paypalgw.Config) { c.ClientID = "" }, false},
		{"no secret", func(c *paypalgw.Config) { c.ClientSecret = "" }, false},
		{"no webhook id", func(c *paypalgw.Config) { c.WebhookID = "" }, false},
		{"cert host with scheme", func(c *paypalgw.Config) { c.CertHosts = []string{"https://api.paypal.com"} }, false},
		{"card method", func(c *paypalgw.Config) { c.Capabilities.Methods = []string{"card"} }, false},
	}
	for _, tt := range tests {
		c := good
		tt.mutate(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
}

// TestCompleteRace: two completions of one order race; the loser's capture
// meets ORDER_ALREADY_CAPTURED and answers the order's state.
func TestCompleteRace(t *testing.T) {
	f := newFake(t)
	g := f.gateway(t)
	ctx := context.Background()
	req := chargeRequest(true)
	res, err := g.Charge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	f.approve(res.Reference)
	req.Token = res.Reference
	if res, err := g.Charge(ctx, req); err != nil || res.Status != gateway.Captured {
		t.Fatalf("first completion = %+v, %v", res, err)
	}
	// The loser read the order while it was still APPROVED.
	stale := true
	f.override = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !stale {
			return false
		}
		stale = false
		f.mu.Lock()
		o := map[string]any{}
		for k, v := range f.orders[req.Token] {
			o[k] = v
		}
		f.mu.Unlock()
		o["status"] = "APPROVED"
		w.Header().Set("Content-Type", "application/json")
		w.Write(mustJSON(o))
		return true
	}
	f.taken()
	res, err = g.Charge(ctx, req)
	if err != nil || res.Status != gateway.Captured {
		t.Fatalf("second completion = %+v, %v; want captured", res, err)
	}
	want := []string{"GET /v2/checkout/orders/" + req.Token, "POST /v2/checkout/orders/" + req.Token + "/capture", "GET /v2/checkout/orders/" + req.Token}
	if got := paths(f.taken()); !reflect.DeepEqual(got, want) {
		t.Errorf("second completion sent %v; want %v", got, want)
	}
}
