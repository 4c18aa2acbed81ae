package razorpaygw_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/razorpaygw"
	"github.com/magefleet/platform/internal/errs"
)

const (
	keyID         = "rzp_test_key"
	keySecret     = "key_secret_value"
	webhookSecret = "webhook_secret_value"
)

// call is one request the fake received.
type call struct {
	Method, Path, Query, Auth, ContentType string
	Body                                   map[string]any
}

// fakeRazorpay is a small stateful Razorpay: orders, payments and refunds in
// maps, every request recorded; override answers a path before the state
// does.
type fakeRazorpay struct {
	mu       sync.Mutex
	calls    []call
	orders   []map[string]any
	payments map[string]map[string]any
	refunds  map[string][]map[string]any
	override func(w http.ResponseWriter, r *http.Request) bool
}

func (f *fakeRazorpay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	if len(b) > 0 {
		_ = json.Unmarshal(b, &body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), Body: body})
	if u, p, ok := r.BasicAuth(); !ok || u != keyID || p != keySecret {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":{"code":"BAD_REQUEST_ERROR","description":"Authentication failed"}}`)
		return
	}
	if f.override != nil && f.override(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/orders":
		var items []map[string]any
		for _, o := range f.orders {
			if o["receipt"] == r.URL.Query().Get("receipt") {
				items = append(items, o)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"entity": "collection", "count": len(items), "items": items})
	case r.Method == "POST" && r.URL.Path == "/v1/orders":
		o := map[string]any{"id": "order_" + string(rune('A'+len(f.orders))), "entity": "order", "amount": body["amount"], "amount_paid": 0,
			"amount_due": body["amount"], "currency": body["currency"], "receipt": body["receipt"], "status": "created", "attempts": 0, "notes": body["notes"], "created_at": 1700000000}
		f.orders = append(f.orders, o)
		json.NewEncoder(w).Encode(o)
	case r.Method == "GET" && len(parts) == 4 && parts[1] == "orders" && parts[3] == "payments":
		var items []map[string]any
		for _, p := range f.payments {
			if p["order_id"] == parts[2] {
				items = append(items, p)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"entity": "collection", "count": len(items), "items": items})
	case r.Method == "GET" && len(parts) == 3 && parts[1] == "payments":
		p, ok := f.payments[parts[2]]
		if !ok {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":"BAD_REQUEST_ERROR","description":"The id provided does not exist"}}`)
			return
		}
		json.NewEncoder(w).Encode(p)
	case r.Method == "POST" && len(parts) == 4 && parts[1] == "payments" && parts[3] == "capture":
		p := f.payments[parts[2]]
		if p["status"] == "captured" {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":"BAD_REQUEST_ERROR","description":"This payment has already been captured","source":"business","step":"payment_capture","reason":"input_validation_failed"}}`)
			return
		}
		p["status"], p["captured"] = "captured", true
		json.NewEncoder(w).Encode(p)
	case r.Method == "GET" && len(parts) == 4 && parts[1] == "payments" && parts[3] == "refunds":
		items := f.refunds[parts[2]]
		json.NewEncoder(w).Encode(map[string]any{"entity": "collection", "count": len(items), "items": items})
	case r.Method == "POST" && len(parts) == 4 && parts[1] == "payments" && parts[3] == "refund":
		rf := map[string]any{"id": "rfnd_1", "entity": "refund", "amount": body["amount"], "currency": "INR", "payment_id": parts[2],
			"receipt": body["receipt"], "notes": body["notes"], "status": "processed"}
		f.refunds[parts[2]] = append(f.refunds[parts[2]], rf)
		json.NewEncoder(w).Encode(rf)
	default:
		w.WriteHeader(404)
		io.WriteString(w, `{"error":{"code":"BAD_REQUEST_ERROR","description":"The requested URL was not found on the server."}}`)
	}
}

func (f *fakeRazorpay) taken() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func newFake(tb testing.TB) (*fakeRazorpay, *razorpaygw.Gateway) {
	tb.Helper()
	f := &fakeRazorpay{payments: map[string]map[string]any{}, refunds: map[string][]map[string]any{}}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	return f, newGateway(tb, srv.URL)
}

func newGateway(tb testing.TB, baseURL string) *razorpaygw.Gateway {
	tb.Helper()
	cfg := razorpaygw.DefaultConfig()
	cfg.KeyID, cfg.KeySecret, cfg.WebhookSecret, cfg.BaseURL = keyID, keySecret, webhookSecret, baseURL
	g, err := razorpaygw.New(cfg, &http.Client{Timeout: 2 * time.Second}, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return g
}

func chargeRequest() gateway.ChargeRequest {
	return gateway.ChargeRequest{
		PaymentID: "pay_123", Attempt: 1, IdempotencyKey: "pay_123_att_1",
		Amount: 50000, Currency: "INR", Method: gateway.UPI, Capture: true,
		Customer: gateway.Customer{Email: "a@example.com", Phone: "+919000000000"},
		Metadata: map[string]string{"cart": "c1"},
	}
}

func sign(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if !errors.Is(err, &errs.Error{Code: code}) {
		tb.Fatalf("error = %v; want %s", err, code)
	}
}

// TestCreateOrderWireFormat pins the Orders API requests: the receipt look-up,
// then POST /v1/orders with Basic auth and the JSON body.
func TestCreateOrderWireFormat(t *testing.T) {
	f, g := newFake(t)
	res, err := g.Charge(context.Background(), chargeRequest())
	if err != nil {
		t.Fatalf("Charge() = %v", err)
	}
	calls := f.taken()
	if len(calls) != 2 {
		t.Fatalf("Charge() sent %d requests; want 2: %+v", len(calls), calls)
	}
	auth := "Basic " + "cnpwX3Rlc3Rfa2V5OmtleV9zZWNyZXRfdmFsdWU=" // base64("rzp_test_key:key_secret_value")
	if c := calls[0]; c.Method != "GET" || c.Path != "/v1/orders" || c.Query != "receipt=pay_123_1" || c.Auth != auth {
		t.Errorf("first request = %s %s?%s auth %q; want GET /v1/orders?receipt=pay_123_1", c.Method, c.Path, c.Query, c.Auth)
	}
	c := calls[1]
	if c.Method != "POST" || c.Path != "/v1/orders" || c.Auth != auth || c.ContentType != "application/json" {
		t.Errorf("second request = %s %s auth %q type %q; want POST /v1/orders JSON", c.Method, c.Path, c.Auth, c.ContentType)
	}
	wantBody := map[string]any{
		"amount": float64(50000), "currency": "INR", "receipt": "pay_123_1", "payment_capture": true,
		"notes": map[string]any{"payment_id": "pay_123", "attempt": "1", "cart": "c1"},
	}
	if !reflect.DeepEqual(c.Body, wantBody) {
		t.Errorf("POST /v1/orders body = %v; want %v", c.Body, wantBody)
	}
	if res.Status != gateway.RequiresAction || res.Reference != "order_A" || res.NextAction == nil || res.NextAction.Type != "sdk" {
		t.Fatalf("Charge() = %+v; want requires_action with an sdk next action for order_A", res)
	}
	d := res.NextAction.Data
	if d["key_id"] != keyID || d["order_id"] != "order_A" || d["amount"] != int64(50000) || d["currency"] != "INR" {
		t.Errorf("NextAction.Data = %v", d)
	}

	// The same attempt again finds its order instead of creating another.
	res2, err := g.Charge(context.Background(), chargeRequest())
	if err != nil || res2.Reference != "order_A" {
		t.Fatalf("second Charge() = %+v, %v; want order_A again", res2, err)
	}
	for _, c := range f.taken() {
		if c.Method == "POST" {
			t.Errorf("second Charge() sent %s %s; want no new order", c.Method, c.Path)
		}
	}

	// The same attempt with another amount is a conflict.
	req := chargeRequest()
	req.Amount = 60000
	_, err = g.Charge(context.Background(), req)
	wantCode(t, err, errs.Conflict)
}

func TestCompleteCheckout(t *testing.T) {
	tests := []struct {
		name       string
		payment    map[string]any
		capture    bool
		token      func(orderID string) string
		wantErr    string
		wantStatus gateway.Status
		wantCalls  []string
	}{
		{name: "authorized, captured now", capture: true,
			payment:    map[string]any{"id": "pay_P1", "status": "authorized", "amount": 50000, "currency": "INR"},
			token:      func(o string) string { return "rzp:pay_P1:" + sign(keySecret, o+"|pay_P1") },
			wantStatus: gateway.Captured,
			wantCalls:  []string{"GET /v1/orders", "GET /v1/payments/pay_P1", "POST /v1/payments/pay_P1/capture"}},
		{name: "authorized, authorise only", capture: false,
			payment:    map[string]any{"id": "pay_P1", "status": "authorized", "amount": 50000, "currency": "INR"},
			token:      func(o string) string { return "rzp:pay_P1:" + sign(keySecret, o+"|pay_P1") },
			wantStatus: gateway.Authorized,
			wantCalls:  []string{"GET /v1/orders", "GET /v1/payments/pay_P1"}},
		{name: "already captured by Razorpay", capture: true,
			payment:    map[string]any{"id": "pay_P1", "status": "captured", "amount": 50000, "currency": "INR"},
			token:      func(o string) string { return "rzp:pay_P1:" + sign(keySecret, o+"|pay_P1") },
			wantStatus: gateway.Captured,
			wantCalls:  []string{"GET /v1/orders", "GET /v1/payments/pay_P1"}},
		{name: "failed", capture: true,
			payment:    map[string]any{"id": "pay_P1", "status": "failed", "amount": 50000, "currency": "INR", "error_code": "BAD_REQUEST_ERROR", "error_reason": "insufficient_balance"},
			token:      func(o string) string { return "rzp:pay_P1:" + sign(keySecret, o+"|pay_P1") },
			wantStatus: gateway.Failed},
		{name: "signed over the order id the browser sent", capture: true,
			payment: map[string]any{"id": "pay_P1", "status": "authorized", "amount": 50000, "currency": "INR"},
			token:   func(string) string { return "rzp:pay_P1:" + sign(keySecret, "order_OTHER|pay_P1") },
			wantErr: errs.Unauthorized},
		{name: "signed with another secret", capture: true,
			payment: map[string]any{"id": "pay_P1", "status": "authorized", "amount": 50000, "currency": "INR"},
			token:   func(o string) string { return "rzp:pay_P1:" + sign("guess", o+"|pay_P1") },
			wantErr: errs.Unauthorized},
		{name: "payment of another amount", capture: true,
			payment: map[string]any{"id": "pay_P1", "status": "authorized", "amount": 100, "currency": "INR"},
			token:   func(o string) string { return "rzp:pay_P1:" + sign(keySecret, o+"|pay_P1") },
			wantErr: errs.Conflict},
		{name: "malformed token", capture: true,
			payment: map[string]any{"id": "pay_P1", "status": "authorized", "amount": 50000, "currency": "INR"},
			token:   func(string) string { return "rzp:pay_P1" },
			wantErr: errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := newFake(t)
			req := chargeRequest()
			req.Capture = tt.capture
			res, err := g.Charge(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			orderID := res.Reference
			tt.payment["order_id"] = orderID
			f.payments["pay_P1"] = tt.payment
			f.taken()

			req.Token = tt.token(orderID)
			res, err = g.Charge(context.Background(), req)
			if tt.wantErr != "" {
				wantCode(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Charge(complete) = %v", err)
			}
			if res.Status != tt.wantStatus || res.Reference != "pay_P1" {
				t.Errorf("Charge(complete) = %+v; want %s for pay_P1", res, tt.wantStatus)
			}
			calls := f.taken()
			if tt.wantCalls != nil {
				var got []string
				for _, c := range calls {
					got = append(got, c.Method+" "+c.Path)
				}
				if !reflect.DeepEqual(got, tt.wantCalls) {
					t.Errorf("requests = %v; want %v", got, tt.wantCalls)
				}
			}
			for _, c := range calls {
				if strings.HasSuffix(c.Path, "/capture") && (c.Body["amount"] != float64(50000) || c.Body["currency"] != "INR") {
					t.Errorf("capture body = %v; want amount 50000 INR", c.Body)
				}
			}
		})
	}
}

func TestVerifyCheckout(t *testing.T) {
	g := newGateway(t, "http://127.0.0.1:1")
	good := sign(keySecret, "order_1|pay_1")
	tests := []struct {
		order, payment, sig string
		ok                  bool
	}{
		{"order_1", "pay_1", good, true},
		{"order_1", "pay_1", strings.ToUpper(good), true},
		{"order_2", "pay_1", good, false},
		{"order_1", "pay_2", good, false},
		{"order_1", "pay_1", good[:10], false},
		{"order_1", "pay_1", "not-hex", false},
		{"", "", sign(keySecret, "|"), false},
	}
	for _, tt := range tests {
		err := g.VerifyCheckout(tt.order, tt.payment, tt.sig)
		if (err == nil) != tt.ok {
			t.Errorf("VerifyCheckout(%q, %q, %q) = %v; want ok=%v", tt.order, tt.payment, tt.sig, err, tt.ok)
		}
		if err != nil && !errors.Is(err, &errs.Error{Code: errs.Unauthorized}) {
			t.Errorf("VerifyCheckout(%q, %q) = %v; want %s", tt.order, tt.payment, err, errs.Unauthorized)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name       string
		payments   []map[string]any
		noOrder    bool
		reference  string
		wantStatus gateway.Status
		wantRef    string
		wantBucket gateway.Bucket
	}{
		{name: "no order: nothing charged", noOrder: true, wantStatus: gateway.NotFound},
		{name: "order without payments", wantStatus: gateway.RequiresAction, wantRef: "order_A"},
		{name: "captured wins over failed", payments: []map[string]any{
			{"id": "pay_F", "status": "failed", "error_code": "BAD_REQUEST_ERROR", "error_reason": "payment_cancelled", "created_at": 2},
			{"id": "pay_C", "status": "captured", "created_at": 1, "fee": 1180},
		}, wantStatus: gateway.Captured, wantRef: "pay_C"},
		{name: "only failed", payments: []map[string]any{
			{"id": "pay_F", "status": "failed", "error_code": "GATEWAY_ERROR", "error_reason": "bank_technical_error", "created_at": 2},
		}, wantStatus: gateway.Failed, wantRef: "pay_F", wantBucket: gateway.Technical},
		{name: "by payment id", reference: "pay_X", payments: []map[string]any{{"id": "pay_X", "status": "authorized"}}, wantStatus: gateway.Authorized, wantRef: "pay_X"},
		{name: "unknown payment id", reference: "pay_nope", wantStatus: gateway.NotFound},
		{name: "refunded after capture", reference: "pay_R", payments: []map[string]any{{"id": "pay_R", "status": "refunded", "captured": true}},
			wantStatus: gateway.Captured, wantRef: "pay_R"},
		{name: "authorisation lapsed: refunded uncaptured", reference: "pay_L", payments: []map[string]any{{"id": "pay_L", "status": "refunded", "captured": false}},
			wantStatus: gateway.Failed, wantRef: "pay_L", wantBucket: gateway.Generic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := newFake(t)
			if !tt.noOrder {
				if _, err := g.Charge(context.Background(), chargeRequest()); err != nil {
					t.Fatal(err)
				}
				if len(tt.payments) > 0 {
					f.orders[0]["status"] = "attempted"
				}
				for _, p := range tt.payments {
					p["order_id"] = "order_A"
					f.payments[p["id"].(string)] = p
				}
			}
			res, err := g.Lookup(context.Background(), chargeRequest(), tt.reference)
			if err != nil {
				t.Fatalf("Lookup() = %v", err)
			}
			if res.Status != tt.wantStatus || res.Reference != tt.wantRef && tt.wantRef != "" {
				t.Errorf("Lookup() = %+v; want %s %s", res, tt.wantStatus, tt.wantRef)
			}
			if tt.wantBucket != "" && (res.Decline == nil || res.Decline.Bucket != tt.wantBucket) {
				t.Errorf("Lookup().Decline = %+v; want bucket %s", res.Decline, tt.wantBucket)
			}
		})
	}
}

func TestDeclineReasons(t *testing.T) {
	tests := []struct {
		code, reason string
		want         gateway.Bucket
	}{
		{"BAD_REQUEST_ERROR", "insufficient_balance", gateway.ShopperFixable},
		{"BAD_REQUEST_ERROR", "payment_cancelled", gateway.ShopperFixable},
		{"BAD_REQUEST_ERROR", "incorrect_otp", gateway.ShopperFixable},
		{"BAD_REQUEST_ERROR", "card_declined", gateway.Generic},
		{"BAD_REQUEST_ERROR", "payment_risk_check_failed", gateway.Hard},
		{"BAD_REQUEST_ERROR", "stolen_card", gateway.Hard},
		{"BAD_REQUEST_ERROR", "international_transaction_not_allowed", gateway.Capability},
		{"GATEWAY_ERROR", "bank_technical_error", gateway.Technical},
		{"SERVER_ERROR", "something_new", gateway.Technical},
		{"BAD_REQUEST_ERROR", "something_new", gateway.Generic},
	}
	for _, tt := range tests {
		f, g := newFake(t)
		f.payments["pay_X"] = map[string]any{"id": "pay_X", "status": "failed", "error_code": tt.code, "error_reason": tt.reason}
		res, err := g.Lookup(context.Background(), chargeRequest(), "pay_X")
		if err != nil || res.Decline == nil || res.Decline.Bucket != tt.want || res.Decline.Raw != tt.code+"/"+tt.reason {
			t.Errorf("Lookup(failed %s/%s) = %+v, %v; want bucket %s", tt.code, tt.reason, res.Decline, err, tt.want)
		}
	}
}

func TestRefund(t *testing.T) {
	f, g := newFake(t)
	req := gateway.RefundRequest{RefundID: "ref_1", Reference: "pay_C", Amount: 2500, Currency: "INR"}
	res, err := g.Refund(context.Background(), req)
	if err != nil || res.Status != gateway.Captured || res.Reference != "rfnd_1" {
		t.Fatalf("Refund() = %+v, %v; want processed rfnd_1", res, err)
	}
	calls := f.taken()
	var post *call
	for i := range calls {
		if calls[i].Method == "POST" {
			post = &calls[i]
		}
	}
	if calls[0].Method != "GET" || calls[0].Path != "/v1/payments/pay_C/refunds" || post == nil || post.Path != "/v1/payments/pay_C/refund" {
		t.Fatalf("Refund() sent %+v; want GET refunds then POST refund", calls)
	}
	wantBody := map[string]any{"amount": float64(2500), "speed": "normal", "receipt": "ref_1", "notes": map[string]any{"refund_id": "ref_1"}}
	if !reflect.DeepEqual(post.Body, wantBody) {
		t.Errorf("refund body = %v; want %v", post.Body, wantBody)
	}
	// Repeating the refund finds it instead of refunding twice.
	res, err = g.Refund(context.Background(), req)
	if err != nil || res.Reference != "rfnd_1" {
		t.Fatalf("second Refund() = %+v, %v", res, err)
	}
	for _, c := range f.taken() {
		if c.Method == "POST" {
			t.Errorf("second Refund() sent POST %s; want none", c.Path)
		}
	}
}

func TestFailures(t *testing.T) {
	answer := func(status int, body string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != "POST" {
				return false
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
			return true
		}
	}
	tests := []struct {
		name        string
		override    func(w http.ResponseWriter, r *http.Request) bool
		mutate      func(*gateway.ChargeRequest)
		wantErr     string
		wantDecline string
	}{
		{name: "5xx creating the order", override: answer(502, `bad gateway`), wantErr: errs.OutcomeUnknown},
		{name: "500 with error body", override: answer(500, `{"error":{"code":"SERVER_ERROR","description":"oops"}}`), wantErr: errs.OutcomeUnknown},
		{name: "timeout creating the order", override: func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != "POST" {
				return false
			}
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return true
		}, wantErr: errs.OutcomeUnknown},
		{name: "rate limited", override: answer(429, `{"error":{"code":"BAD_REQUEST_ERROR","description":"Too many requests"}}`), wantErr: errs.Unavailable},
		{name: "currency refused", override: answer(400, `{"error":{"code":"BAD_REQUEST_ERROR","description":"Currency is not supported","field":"currency"}}`), wantDecline: "currency_not_supported"},
		{name: "three-decimal amount ending in 5", mutate: func(r *gateway.ChargeRequest) { r.Currency, r.Amount = "KWD", 12345 }, wantDecline: "amount_not_supported"},
		{name: "below 100 subunits", mutate: func(r *gateway.ChargeRequest) { r.Amount = 99 }, wantDecline: "amount_too_small"},
		{name: "paypal", mutate: func(r *gateway.ChargeRequest) { r.Method = gateway.PayPal }, wantDecline: "method_not_supported"},
		{name: "stray token", mutate: func(r *gateway.ChargeRequest) { r.Token = "tok_x" }, wantErr: errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := newFake(t)
			f.override = tt.override
			req := chargeRequest()
			if tt.mutate != nil {
				tt.mutate(&req)
			}
			res, err := g.Charge(context.Background(), req)
			if tt.wantErr != "" {
				wantCode(t, err, tt.wantErr)
				return
			}
			if err != nil || res.Status != gateway.Failed || res.Decline.Code != tt.wantDecline || res.Decline.Bucket != gateway.Capability {
				t.Errorf("Charge() = %+v, %v; want capability decline %s", res, err, tt.wantDecline)
			}
		})
	}

	t.Run("wrong credentials", func(t *testing.T) {
		f := &fakeRazorpay{payments: map[string]map[string]any{}, refunds: map[string][]map[string]any{}}
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		cfg := razorpaygw.DefaultConfig()
		cfg.KeyID, cfg.KeySecret, cfg.WebhookSecret, cfg.BaseURL = keyID, "wrong", webhookSecret, srv.URL
		g, err := razorpaygw.New(cfg, nil, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		_, err = g.Charge(context.Background(), chargeRequest())
		wantCode(t, err, errs.Unavailable)
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = newGateway(t, "http://"+addr).Charge(context.Background(), chargeRequest())
		wantCode(t, err, errs.Unavailable)
	})
	t.Run("void", func(t *testing.T) {
		_, g := newFake(t)
		_, err := g.Void(context.Background(), "pay_X")
		wantCode(t, err, errs.Unprocessable)
	})
}

func TestAmounts(t *testing.T) {
	tests := []struct {
		currency string
		minor    int64
		want     float64
	}{
		{"INR", 50000, 50000},
		{"JPY", 500, 500},
		{"KWD", 12340, 12340},
		{"BHD", 1000, 1000},
	}
	for _, tt := range tests {
		f, g := newFake(t)
		req := chargeRequest()
		req.Currency, req.Amount = tt.currency, tt.minor
		if _, err := g.Charge(context.Background(), req); err != nil {
			t.Fatalf("Charge(%d %s) = %v", tt.minor, tt.currency, err)
		}
		calls := f.taken()
		if got := calls[len(calls)-1].Body["amount"]; got != tt.want {
			t.Errorf("Charge(%d %s) sent amount %v; want %v", tt.minor, tt.currency, got, tt.want)
		}
	}
}

func TestReceipt(t *testing.T) {
	if got := razorpaygw.Receipt("pay_123", 2); got != "pay_123_2" {
		t.Errorf("Receipt(pay_123, 2) = %q", got)
	}
	long := razorpaygw.Receipt(strings.Repeat("p", 60), 1)
	if len(long) > 40 || long == razorpaygw.Receipt(strings.Repeat("p", 60), 2) {
		t.Errorf("Receipt(long) = %q; want at most 40 characters, distinct per attempt", long)
	}
}

func TestConfigValidate(t *testing.T) {
	good := razorpaygw.DefaultConfig()
	good.KeyID, good.KeySecret, good.WebhookSecret = keyID, keySecret, webhookSecret
	tests := []struct {
		name   string
		mutate func(*razorpaygw.Config)
		ok     bool
	}{
		{"good", func(*razorpaygw.Config) {}, true},
		{"bad key id", func(c *razorpaygw.Config) { c.KeyID = "key" }, false},
		{"no secret", func(c *razorpaygw.Config) { c.KeySecret = "" }, false},
		{"no webhook secret", func(c *razorpaygw.Config) { c.WebhookSecret = "" }, false},
		{"paypal method", func(c *razorpaygw.Config) { c.Capabilities.Methods = []string{"paypal"} }, false},
	}
	for _, tt := range tests {
		c := good
		tt.mutate(&c)
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
}
