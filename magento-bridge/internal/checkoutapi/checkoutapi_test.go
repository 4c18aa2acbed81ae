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
