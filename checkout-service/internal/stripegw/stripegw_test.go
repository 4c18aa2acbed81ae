package stripegw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/checkout-service/internal/stripegw"
	"github.com/magefleet/platform/internal/errs"
)

const webhookSecret = "whsec_test_secret"

// recorded is one request the adapter sent.
type recorded struct {
	Method, Path string
	Header       http.Header
	Form         url.Values
}

// recorder is an http.RoundTripper that remembers every request.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
	next http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	form, _ := url.ParseQuery(string(body))
	if req.Method == http.MethodGet {
		form = req.URL.Query()
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Form: form})
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) last(tb testing.TB) recorded {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		tb.Fatal("no request was sent")
	}
	return r.reqs[len(r.reqs)-1]
}

// newGateway returns a Gateway talking to baseURL through a recorder.
func newGateway(tb testing.TB, baseURL string, timeout time.Duration) (*stripegw.Gateway, *recorder) {
	tb.Helper()
	cfg := stripegw.DefaultConfig()
	cfg.SecretKey = "sk_test_123"
	cfg.WebhookSecret = webhookSecret
	cfg.BaseURL = baseURL
	rec := &recorder{next: http.DefaultTransport}
	g, err := stripegw.New(cfg, &http.Client{Transport: rec, Timeout: timeout}, zaptest.NewLogger(tb))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return g, rec
}

func chargeRequest(capture bool) gateway.ChargeRequest {
	return gateway.ChargeRequest{
		PaymentID:      "pay_123",
		Attempt:        1,
		IdempotencyKey: "pay_123_att_1",
		Amount:         1050,
		Currency:       "EUR",
		Method:         gateway.Card,
		Token:          "pm_card_visa",
		ReturnURL:      "https://shop.example/checkout/return",
		Description:    "Order 1000001",
		Capture:        capture,
		Metadata:       map[string]string{"cart": "c1", "payment_id": "spoofed"},
	}
}

// TestStripeMock proves against stripe-mock, which validates every request
// against Stripe's OpenAPI spec, that each call is a valid Stripe request, and
// pins the parameters and headers the adapter sends.
func TestStripeMock(t *testing.T) {
	ctx := context.Background()
	g, rec := newGateway(t, stripeMockURL, 30*time.Second)

	for _, capture := range []bool{true, false} {
		res, err := g.Charge(ctx, chargeRequest(capture))
		if err != nil {
			t.Fatalf("Charge(capture=%v) = %v", capture, err)
		}
		if !strings.HasPrefix(res.Reference, "pi_") {
			t.Errorf("Charge(capture=%v).Reference = %q; want a pi_ id", capture, res.Reference)
		}
		sent := rec.last(t)
		want := map[string]string{
			"amount":                  "1050",
			"currency":                "eur",
			"payment_method":          "pm_card_visa",
			"payment_method_types[0]": "card",
			"confirm":                 "true",
			"return_url":              "https://shop.example/checkout/return",
			"metadata[payment_id]":    "pay_123",
			"metadata[attempt]":       "1",
			"metadata[cart]":          "c1",
			"capture_method":          map[bool]string{true: "automatic", false: "manual"}[capture],
		}
		if sent.Method != http.MethodPost || sent.Path != "/v1/payment_intents" {
			t.Errorf("Charge sent %s %s; want POST /v1/payment_intents", sent.Method, sent.Path)
		}
		for k, v := range want {
			if got := sent.Form.Get(k); got != v {
				t.Errorf("Charge(capture=%v) form %s = %q; want %q", capture, k, got, v)
			}
		}
		if got := sent.Header.Get("Idempotency-Key"); got != "pay_123_att_1" {
			t.Errorf("Idempotency-Key = %q; want pay_123_att_1", got)
		}
		if got := sent.Header.Get("Stripe-Version"); got != "2023-10-16" {
			t.Errorf("Stripe-Version = %q; want 2023-10-16", got)
		}
	}

	t.Run("3-D Secure step-up", func(t *testing.T) {
		for _, stepUp := range []bool{false, true} {
			req := chargeRequest(true)
			req.ThreeDS = stepUp
			if _, err := g.Charge(ctx, req); err != nil {
				t.Fatalf("Charge(ThreeDS=%v) = %v", stepUp, err)
			}
			want := map[bool]string{false: "", true: "any"}[stepUp]
			if got := rec.last(t).Form.Get("payment_method_options[card][request_three_d_secure]"); got != want {
				t.Errorf("Charge(ThreeDS=%v) sent request_three_d_secure %q; want %q", stepUp, got, want)
			}
		}
	})
	t.Run("lookup by reference", func(t *testing.T) {
		res, err := g.Lookup(ctx, chargeRequest(true), "pi_123")
		if err != nil {
			t.Fatalf("Lookup = %v", err)
		}
		if res.Reference == "" || res.Status == "" {
			t.Errorf("Lookup = %+v; want a reference and a status", res)
		}
		if sent := rec.last(t); sent.Method != http.MethodGet || sent.Path != "/v1/payment_intents/pi_123" {
			t.Errorf("Lookup sent %s %s", sent.Method, sent.Path)
		}
	})
	t.Run("lookup by metadata", func(t *testing.T) {
		// stripe-mock's fixtures carry no metadata of ours, so search and
		// the recent list both come back without a match.
		res, err := g.Lookup(ctx, chargeRequest(true), "")
		if err != nil {
			t.Fatalf("Lookup = %v", err)
		}
		if res.Status != gateway.NotFound {
			t.Errorf("Lookup.Status = %q; want %q", res.Status, gateway.NotFound)
		}
		rec.mu.Lock()
		reqs := rec.reqs[len(rec.reqs)-2:]
		rec.mu.Unlock()
		if reqs[0].Path != "/v1/payment_intents/search" || reqs[0].Form.Get("query") != "metadata['payment_id']:'pay_123' AND metadata['attempt']:'1'" {
			t.Errorf("search sent %s query %q", reqs[0].Path, reqs[0].Form.Get("query"))
		}
		if reqs[1].Path != "/v1/payment_intents" || reqs[1].Form.Get("created[gte]") == "" {
			t.Errorf("list sent %s %v; want created[gte]", reqs[1].Path, reqs[1].Form)
		}
	})
	t.Run("capture", func(t *testing.T) {
		if _, err := g.Capture(ctx, "pi_123", 1050, "EUR"); err != nil {
			t.Fatalf("Capture = %v", err)
		}
		sent := rec.last(t)
		if sent.Path != "/v1/payment_intents/pi_123/capture" || sent.Form.Get("amount_to_capture") != "1050" || sent.Header.Get("Idempotency-Key") != "capture_pi_123_1050" {
			t.Errorf("Capture sent %s %v key %q", sent.Path, sent.Form, sent.Header.Get("Idempotency-Key"))
		}
	})
	t.Run("void", func(t *testing.T) {
		if _, err := g.Void(ctx, "pi_123"); err != nil {
			t.Fatalf("Void = %v", err)
		}
		if sent := rec.last(t); sent.Path != "/v1/payment_intents/pi_123/cancel" || sent.Header.Get("Idempotency-Key") != "void_pi_123" {
			t.Errorf("Void sent %s key %q", sent.Path, sent.Header.Get("Idempotency-Key"))
		}
	})
	t.Run("refund", func(t *testing.T) {
		res, err := g.Refund(ctx, gateway.RefundRequest{RefundID: "ref_1", Reference: "pi_123", Amount: 500, Currency: "EUR"})
		if err != nil {
			t.Fatalf("Refund = %v", err)
		}
		if !strings.HasPrefix(res.Reference, "re_") {
			t.Errorf("Refund.Reference = %q; want a re_ id", res.Reference)
		}
		sent := rec.last(t)
		if sent.Path != "/v1/refunds" || sent.Form.Get("payment_intent") != "pi_123" || sent.Form.Get("amount") != "500" ||
			sent.Form.Get("metadata[refund_id]") != "ref_1" || sent.Header.Get("Idempotency-Key") != "refund_ref_1" {
			t.Errorf("Refund sent %s %v key %q", sent.Path, sent.Form, sent.Header.Get("Idempotency-Key"))
		}
	})
}

// fake is a fault-injecting Stripe: handle answers every request.
func fake(tb testing.TB, handle http.HandlerFunc) *stripegw.Gateway {
	tb.Helper()
	srv := httptest.NewServer(handle)
	tb.Cleanup(srv.Close)
	g, _ := newGateway(tb, srv.URL, 2*time.Second)
	return g
}

func respond(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func cardError(code, declineCode string) string {
	return `{"error":{"type":"card_error","code":"` + code + `","decline_code":"` + declineCode +
		`","message":"Your card was declined.","payment_intent":{"id":"pi_declined","object":"payment_intent","status":"requires_payment_method"}}}`
}

func intent(status, extra string) string {
	return `{"id":"pi_fake","object":"payment_intent","status":"` + status + `","client_secret":"pi_fake_secret_x"` + extra + `}`
}

func TestChargeOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		handle     http.HandlerFunc
		wantStatus gateway.Status
		wantBucket gateway.Bucket
		wantCode   string
		wantErr    string
		wantAction *gateway.NextAction
	}{
		{name: "captured", handle: respond(200, intent("succeeded", "")), wantStatus: gateway.Captured},
		{name: "authorized", handle: respond(200, intent("requires_capture", "")), wantStatus: gateway.Authorized},
		{name: "processing", handle: respond(200, intent("processing", "")), wantStatus: gateway.Processing},
		{name: "3ds redirect", handle: respond(200, intent("requires_action", `,"next_action":{"type":"redirect_to_url","redirect_to_url":{"url":"https://hooks.stripe.com/3ds","return_url":"https://shop.example/r"}}`)),
			wantStatus: gateway.RequiresAction, wantAction: &gateway.NextAction{Type: "redirect", URL: "https://hooks.stripe.com/3ds", ClientSecret: "pi_fake_secret_x"}},
		{name: "3ds sdk", handle: respond(200, intent("requires_action", `,"next_action":{"type":"use_stripe_sdk","use_stripe_sdk":{}}`)),
			wantStatus: gateway.RequiresAction, wantAction: &gateway.NextAction{Type: "client_secret", ClientSecret: "pi_fake_secret_x", Data: map[string]any{"next_action_type": "use_stripe_sdk"}}},
		{name: "insufficient funds", handle: respond(402, cardError("card_declined", "insufficient_funds")), wantStatus: gateway.Failed, wantBucket: gateway.ShopperFixable, wantCode: "insufficient_funds"},
		{name: "generic decline", handle: respond(402, cardError("card_declined", "generic_decline")), wantStatus: gateway.Failed, wantBucket: gateway.Generic, wantCode: "generic_decline"},
		{name: "do not honor", handle: respond(402, cardError("card_declined", "do_not_honor")), wantStatus: gateway.Failed, wantBucket: gateway.Generic, wantCode: "do_not_honor"},
		{name: "card declined without code", handle: respond(402, cardError("card_declined", "")), wantStatus: gateway.Failed, wantBucket: gateway.Generic, wantCode: "generic_decline"},
		{name: "stolen card", handle: respond(402, cardError("card_declined", "stolen_card")), wantStatus: gateway.Failed, wantBucket: gateway.Hard, wantCode: "stolen_card"},
		{name: "fraudulent", handle: respond(402, cardError("card_declined", "fraudulent")), wantStatus: gateway.Failed, wantBucket: gateway.Hard, wantCode: "fraudulent"},
		{name: "expired card", handle: respond(402, cardError("expired_card", "")), wantStatus: gateway.Failed, wantBucket: gateway.ShopperFixable, wantCode: "expired_card"},
		{name: "incorrect cvc", handle: respond(402, cardError("incorrect_cvc", "")), wantStatus: gateway.Failed, wantBucket: gateway.ShopperFixable, wantCode: "incorrect_cvc"},
		{name: "authentication required", handle: respond(402, cardError("card_declined", "authentication_required")), wantStatus: gateway.Failed, wantBucket: gateway.Authentication, wantCode: "authentication_required"},
		{name: "processing error", handle: respond(402, cardError("processing_error", "")), wantStatus: gateway.Failed, wantBucket: gateway.Technical, wantCode: "processing_error"},
		{name: "issuer not available", handle: respond(402, cardError("card_declined", "issuer_not_available")), wantStatus: gateway.Failed, wantBucket: gateway.Technical, wantCode: "issuer_not_available"},
		{name: "currency not supported", handle: respond(402, cardError("card_declined", "currency_not_supported")), wantStatus: gateway.Failed, wantBucket: gateway.Capability, wantCode: "currency_not_supported"},
		{name: "amount too small", handle: respond(400, `{"error":{"type":"invalid_request_error","code":"amount_too_small","message":"Amount must be at least 0.50 eur"}}`), wantStatus: gateway.Failed, wantBucket: gateway.Capability, wantCode: "amount_too_small"},
		{name: "3ds failed later", handle: respond(200, intent("requires_payment_method", `,"last_payment_error":{"type":"invalid_request_error","code":"payment_intent_authentication_failure"}`)),
			wantStatus: gateway.Failed, wantBucket: gateway.ShopperFixable, wantCode: "authentication_failed"},
		{name: "idempotency conflict", handle: respond(400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}`), wantErr: errs.Conflict},
		{name: "invalid request", handle: respond(400, `{"error":{"type":"invalid_request_error","code":"parameter_invalid_integer","message":"Invalid integer"}}`), wantErr: errs.Unavailable},
		{name: "bad key", handle: respond(401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`), wantErr: errs.Unavailable},
		{name: "rate limited", handle: respond(429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`), wantErr: errs.Unavailable},
		{name: "key in use", handle: respond(409, `{"error":{"type":"invalid_request_error","code":"idempotency_key_in_use","message":"in use"}}`), wantErr: errs.OutcomeUnknown},
		{name: "api error", handle: respond(500, `{"error":{"type":"api_error","message":"Something went wrong"}}`), wantErr: errs.OutcomeUnknown},
		{name: "bad gateway", handle: respond(502, `<html>bad gateway</html>`), wantErr: errs.OutcomeUnknown},
		{name: "connection reset", handle: func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		}, wantErr: errs.OutcomeUnknown},
		{name: "timeout", handle: func(w http.ResponseWriter, r *http.Request) {
			// Answer only after the client (2 s timeout) has given up; the
			// server notices a closed connection once the body is read.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, wantErr: errs.OutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := fake(t, tt.handle)
			res, err := g.Charge(context.Background(), chargeRequest(true))
			if tt.wantErr != "" {
				if !errors.Is(err, &errs.Error{Code: tt.wantErr}) {
					t.Fatalf("Charge() = %+v, %v; want error %s", res, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Charge() = %v", err)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("Charge().Status = %q; want %q", res.Status, tt.wantStatus)
			}
			if tt.wantBucket != "" {
				if res.Decline == nil || res.Decline.Bucket != tt.wantBucket || res.Decline.Code != tt.wantCode {
					t.Errorf("Charge().Decline = %+v; want %s in %s", res.Decline, tt.wantCode, tt.wantBucket)
				}
			}
			if tt.wantAction != nil {
				got, _ := json.Marshal(res.NextAction)
				want, _ := json.Marshal(tt.wantAction)
				if !bytes.Equal(got, want) {
					t.Errorf("Charge().NextAction = %s; want %s", got, want)
				}
			}
		})
	}
}

func TestChargeUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	g, _ := newGateway(t, "http://"+addr, 2*time.Second)
	_, err = g.Charge(context.Background(), chargeRequest(true))
	if !errors.Is(err, &errs.Error{Code: errs.Unavailable}) {
		t.Errorf("Charge() = %v; want %s", err, errs.Unavailable)
	}
}

func TestChargeInvalid(t *testing.T) {
	g := fake(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
	})
	tests := []struct {
		name        string
		mutate      func(*gateway.ChargeRequest)
		wantErr     string
		wantDecline string
	}{
		{name: "no key", mutate: func(r *gateway.ChargeRequest) { r.IdempotencyKey = "" }, wantErr: errs.Invalid},
		{name: "long key", mutate: func(r *gateway.ChargeRequest) { r.IdempotencyKey = strings.Repeat("k", 256) }, wantErr: errs.Invalid},
		{name: "no token", mutate: func(r *gateway.ChargeRequest) { r.Token = "" }, wantErr: errs.Invalid},
		{name: "zero amount", mutate: func(r *gateway.ChargeRequest) { r.Amount = 0 }, wantErr: errs.Invalid},
		{name: "upi", mutate: func(r *gateway.ChargeRequest) { r.Method = gateway.UPI }, wantDecline: "method_not_supported"},
		{name: "fractional KWD", mutate: func(r *gateway.ChargeRequest) { r.Currency, r.Amount = "KWD", 1234 }, wantDecline: "amount_not_supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := chargeRequest(true)
			tt.mutate(&req)
			res, err := g.Charge(context.Background(), req)
			if tt.wantErr != "" {
				if !errors.Is(err, &errs.Error{Code: tt.wantErr}) {
					t.Errorf("Charge() = %v; want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || res.Status != gateway.Failed || res.Decline.Code != tt.wantDecline || res.Decline.Bucket != gateway.Capability {
				t.Errorf("Charge() = %+v, %v; want a %s capability decline", res, err, tt.wantDecline)
			}
		})
	}
}

func TestAmounts(t *testing.T) {
	tests := []struct {
		currency string
		minor    int64
		want     string // the amount field sent, "" when refused
	}{
		{"USD", 1050, "1050"},
		{"JPY", 500, "500"},
		{"KRW", 15000, "15000"},
		{"KWD", 5120, "5120"},
		{"BHD", 1001, ""},
		{"ISK", 40, "4000"},     // zero-decimal in ISO 4217, two-decimal at Stripe
		{"MGA", 150000, "1500"}, // two-decimal in ISO 4217, zero-decimal at Stripe
		{"MGA", 150050, ""},
		{"HUF", 12345, "12345"},
	}
	for _, tt := range tests {
		t.Run(tt.currency, func(t *testing.T) {
			var got string
			g := fake(t, func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				got = r.PostForm.Get("amount")
				respond(200, intent("succeeded", ""))(w, r)
			})
			req := chargeRequest(true)
			req.Currency, req.Amount = tt.currency, tt.minor
			res, err := g.Charge(context.Background(), req)
			if err != nil {
				t.Fatalf("Charge(%d %s) = %v", tt.minor, tt.currency, err)
			}
			if tt.want == "" {
				if res.Status != gateway.Failed || res.Decline.Bucket != gateway.Capability {
					t.Errorf("Charge(%d %s) = %+v; want a capability decline", tt.minor, tt.currency, res)
				}
				return
			}
			if got != tt.want {
				t.Errorf("Charge(%d %s) sent amount %q; want %q", tt.minor, tt.currency, got, tt.want)
			}
		})
	}
}

func TestLookupFake(t *testing.T) {
	match := `{"id":"pi_found","object":"payment_intent","status":"succeeded","metadata":{"payment_id":"pay_123","attempt":"1"}}`
	other := `{"id":"pi_other","object":"payment_intent","status":"succeeded","metadata":{"payment_id":"pay_999","attempt":"1"}}`
	list := func(items ...string) string {
		return `{"object":"list","url":"/v1/payment_intents","has_more":false,"data":[` + strings.Join(items, ",") + `]}`
	}
	search := func(items ...string) string {
		return `{"object":"search_result","url":"/v1/payment_intents/search","has_more":false,"data":[` + strings.Join(items, ",") + `]}`
	}
	tests := []struct {
		name      string
		reference string
		search    string
		list      string
		get       func(w http.ResponseWriter)
		want      gateway.Status
		wantRef   string
		wantErr   string
	}{
		{name: "by reference", reference: "pi_found", get: func(w http.ResponseWriter) { io.WriteString(w, match) }, want: gateway.Captured, wantRef: "pi_found"},
		{name: "reference missing", reference: "pi_gone", get: func(w http.ResponseWriter) {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_intent"}}`)
		}, want: gateway.NotFound},
		{name: "reference 500", reference: "pi_x", get: func(w http.ResponseWriter) { w.WriteHeader(500); io.WriteString(w, `{"error":{"type":"api_error"}}`) }, wantErr: errs.Unavailable},
		{name: "found by search", search: search(other, match), list: list(), want: gateway.Captured, wantRef: "pi_found"},
		{name: "search lags, found in recent list", search: search(), list: list(other, match), want: gateway.Captured, wantRef: "pi_found"},
		{name: "nowhere", search: search(other), list: list(other), want: gateway.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := fake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.URL.Path == "/v1/payment_intents/search":
					io.WriteString(w, tt.search)
				case r.URL.Path == "/v1/payment_intents":
					io.WriteString(w, tt.list)
				default:
					tt.get(w)
				}
			})
			res, err := g.Lookup(context.Background(), chargeRequest(true), tt.reference)
			if tt.wantErr != "" {
				if !errors.Is(err, &errs.Error{Code: tt.wantErr}) {
					t.Fatalf("Lookup() = %v; want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || res.Status != tt.want || (tt.wantRef != "" && res.Reference != tt.wantRef) {
				t.Errorf("Lookup() = %+v, %v; want %s %s", res, err, tt.want, tt.wantRef)
			}
		})
	}
}

func TestLookupScanLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/payment_intents/search" {
			io.WriteString(w, `{"object":"search_result","has_more":false,"data":[]}`)
			return
		}
		// An endless list of other payments.
		io.WriteString(w, `{"object":"list","url":"/v1/payment_intents","has_more":true,"data":[{"id":"pi_a","object":"payment_intent","status":"succeeded"},{"id":"pi_b","object":"payment_intent","status":"succeeded"}]}`)
	}))
	t.Cleanup(srv.Close)
	cfg := stripegw.DefaultConfig()
	cfg.SecretKey, cfg.WebhookSecret, cfg.BaseURL, cfg.LookupScanLimit = "sk_test_1", webhookSecret, srv.URL, 5
	g, err := stripegw.New(cfg, nil, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Lookup(context.Background(), chargeRequest(true), "")
	if err != nil || res.Status != gateway.Unknown {
		t.Errorf("Lookup() = %+v, %v; want %s", res, err, gateway.Unknown)
	}
}

func TestRefundOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		handle  http.HandlerFunc
		want    gateway.Status
		wantErr string
	}{
		{name: "succeeded", handle: respond(200, `{"id":"re_1","object":"refund","status":"succeeded"}`), want: gateway.Captured},
		{name: "pending", handle: respond(200, `{"id":"re_1","object":"refund","status":"pending"}`), want: gateway.Processing},
		{name: "failed", handle: respond(200, `{"id":"re_1","object":"refund","status":"failed","failure_reason":"expired_or_canceled_card"}`), want: gateway.Failed},
		{name: "already refunded", handle: respond(400, `{"error":{"type":"invalid_request_error","code":"charge_already_refunded"}}`), wantErr: errs.Unavailable},
		{name: "5xx", handle: respond(503, `{"error":{"type":"api_error"}}`), wantErr: errs.OutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := fake(t, tt.handle)
			res, err := g.Refund(context.Background(), gateway.RefundRequest{RefundID: "ref_1", Reference: "pi_1", Amount: 100, Currency: "USD", IdempotencyKey: "refund_ref_1"})
			if tt.wantErr != "" {
				if !errors.Is(err, &errs.Error{Code: tt.wantErr}) {
					t.Fatalf("Refund() = %v; want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || res.Status != tt.want {
				t.Errorf("Refund() = %+v, %v; want %s", res, err, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := stripegw.DefaultConfig()
	good.SecretKey, good.WebhookSecret = "sk_test_1", webhookSecret
	tests := []struct {
		name   string
		mutate func(*stripegw.Config)
		ok     bool
	}{
		{"good", func(*stripegw.Config) {}, true},
		{"publishable key", func(c *stripegw.Config) { c.SecretKey = "pk_test_1" }, false},
		{"no webhook secret", func(c *stripegw.Config) { c.WebhookSecret = "" }, false},
		{"relative url", func(c *stripegw.Config) { c.BaseURL = "api.stripe.com" }, false},
		{"upi", func(c *stripegw.Config) { c.Capabilities.Methods = []string{"upi"} }, false},
		{"no timeout", func(c *stripegw.Config) { c.Timeout = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v; want ok=%v", err, tt.ok)
			}
			if err := c.Validate(); err != nil && strings.Contains(err.Error(), "sk_test_1") {
				t.Errorf("Validate() = %v; must not print the key", err)
			}
		})
	}
}

// TestCaptureVoidRepeat: a capture or void of an intent already in its final
// state answers that state instead of an error.
func TestCaptureVoidRepeat(t *testing.T) {
	tests := []struct {
		name   string
		intent string
		act    func(*stripegw.Gateway) (gateway.Result, error)
		want   gateway.Status
	}{
		{"capture twice", "succeeded", func(g *stripegw.Gateway) (gateway.Result, error) {
			return g.Capture(context.Background(), "pi_fake", 1050, "EUR")
		}, gateway.Captured},
		{"void twice", "canceled", func(g *stripegw.Gateway) (gateway.Result, error) { return g.Void(context.Background(), "pi_fake") }, gateway.Failed},
		{"void after capture", "succeeded", func(g *stripegw.Gateway) (gateway.Result, error) { return g.Void(context.Background(), "pi_fake") }, gateway.Captured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := fake(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					respond(400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state","message":"This PaymentIntent's status is not capturable"}}`)(w, r)
					return
				}
				respond(200, intent(tt.intent, ""))(w, r)
			})
			res, err := tt.act(g)
			if err != nil || res.Status != tt.want || res.Reference != "pi_fake" {
				t.Errorf("%s = %+v, %v; want %s", tt.name, res, err, tt.want)
			}
		})
	}
}
