package checkoutapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/magefleet/platform/internal/errs"
	"github.com/magefleet/platform/magento-bridge/internal/checkoutapi"
)

func TestRefundRequestAndErrors(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{200, `{"id":"r1"}`, ""},
		{422, `{"error":{"code":"unprocessable","message":"exceeds the captured amount"}}`, errs.Unprocessable},
		{409, `{}`, errs.Conflict},
		{404, `404 page not found`, errs.NotFound},
		{503, `{"error":{"code":"unavailable","message":"gateway down"}}`, errs.OutcomeUnknown},
	}
	for _, tt := range tests {
		var got struct {
			Amount   int64  `json:"amount"`
			RefundID string `json:"refund_id"`
		}
		var auth, path string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth, path = r.Header.Get("Authorization"), r.URL.Path
			json.NewDecoder(r.Body).Decode(&got)
			w.WriteHeader(tt.status)
			w.Write([]byte(tt.body))
		}))
		c := checkoutapi.New(checkoutapi.Config{BaseURL: srv.URL + "/", ServiceToken: "tok", Timeout: time.Second})
		err := c.Refund(context.Background(), "pay_1", 1234, "magento-cm-9")
		srv.Close()
		if errs.Code(err) != tt.want {
			t.Errorf("Refund with %d %s = %v; want code %q", tt.status, tt.body, err, tt.want)
		}
		if auth != "Bearer tok" || path != "/v1/payments/pay_1/refunds" || got.Amount != 1234 || got.RefundID != "magento-cm-9" {
			t.Errorf("request = %s %s %+v", auth, path, got)
		}
	}
	c := checkoutapi.New(checkoutapi.Config{BaseURL: "http://127.0.0.1:1", ServiceToken: "tok", Timeout: time.Second})
	if err := c.Void(context.Background(), "pay_1", "cancelled"); !errs.Is(err, errs.Unavailable) {
		t.Errorf("Void to a closed port = %v; want unavailable", err)
	}
}

func TestCaptureRequestAndErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"captured", 200, `{"id":"pay_1","status":"captured","amount":5700,"currency":"USD"}`, ""},
		{"captured before, under another capture id", 200, `{"id":"pay_1","status":"captured"}`, ""},
		{"200 that is not a capture", 200, `{"id":"pay_1","status":"authorized"}`, errs.OutcomeUnknown},
		{"partial amount", 409, `{"error":{"code":"conflict","message":"partial capture is not supported: invoice the whole order"}}`, errs.Conflict},
		{"voided", 409, `{"error":{"code":"conflict","message":"payment is voided, not authorized"}}`, errs.Conflict},
		{"gateway refused", 409, `{}`, errs.Conflict},
		{"bad request", 400, `{"error":{"code":"invalid","message":"amount must be positive"}}`, errs.Invalid},
		{"bad token", 401, `{"error":{"code":"unauthorized","message":"bad token"}}`, errs.Unauthorized},
		{"unknown payment", 404, `{"error":{"code":"not_found","message":"no such payment"}}`, errs.NotFound},
		{"no capture route (an older checkout)", 404, `404 page not found`, errs.Unavailable},
		{"empty 200", 200, ``, errs.OutcomeUnknown},
		{"200 from something else", 200, `<html>ok</html>`, errs.OutcomeUnknown},
		{"outcome unknown", 502, `{"error":{"code":"outcome_unknown","message":"the gateway did not answer"}}`, errs.OutcomeUnknown},
		{"gateway down", 503, `{"error":{"code":"unavailable","message":"gateway down"}}`, errs.OutcomeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				Amount    int64  `json:"amount"`
				CaptureID string `json:"capture_id"`
			}
			var auth, method, path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth, method, path = r.Header.Get("Authorization"), r.Method, r.URL.Path
				json.NewDecoder(r.Body).Decode(&got)
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c := checkoutapi.New(checkoutapi.Config{BaseURL: srv.URL, ServiceToken: "tok", Timeout: time.Second})
			err := c.Capture(context.Background(), "pay_1", 5700, "magento-inv-7")
			if errs.Code(err) != tt.want {
				t.Errorf("Capture with %d %s = %v; want code %q", tt.status, tt.body, err, tt.want)
			}
			if auth != "Bearer tok" || method != "POST" || path != "/v1/payments/pay_1/capture" || got.Amount != 5700 || got.CaptureID != "magento-inv-7" {
				t.Errorf("request = %s %s %s %+v", auth, method, path, got)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond) }))
		defer srv.Close()
		c := checkoutapi.New(checkoutapi.Config{BaseURL: srv.URL, ServiceToken: "tok", Timeout: 50 * time.Millisecond})
		if err := c.Capture(context.Background(), "pay_1", 5700, "magento-inv-7"); !errs.Is(err, errs.OutcomeUnknown) {
			t.Errorf("Capture that timed out = %v; want outcome_unknown", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		c := checkoutapi.New(checkoutapi.Config{BaseURL: "http://127.0.0.1:1", ServiceToken: "tok", Timeout: time.Second})
		if err := c.Capture(context.Background(), "pay_1", 5700, "magento-inv-7"); !errs.Is(err, errs.Unavailable) {
			t.Errorf("Capture to a closed port = %v; want unavailable", err)
		}
	})
}
