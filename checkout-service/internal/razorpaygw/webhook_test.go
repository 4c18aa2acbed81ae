package razorpaygw_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

func capturedEvent(created time.Time) string {
	return `{"entity":"event","account_id":"acc_1","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":` +
		`{"id":"pay_C","entity":"payment","amount":50000,"currency":"INR","status":"captured","order_id":"order_A","captured":true,"notes":{"payment_id":"pay_123","attempt":"1"},"fee":1180}}},` +
		`"created_at":` + strconv.FormatInt(created.Unix(), 10) + `}`
}

func webhookHeader(body, secret, id string) http.Header {
	h := http.Header{}
	h.Set("X-Razorpay-Signature", sign(secret, body))
	if id != "" {
		h.Set("X-Razorpay-Event-Id", id)
	}
	return h
}

func TestParseWebhook(t *testing.T) {
	g := newGateway(t, "http://127.0.0.1:1")
	now := time.Now()
	body := capturedEvent(now)
	failed := `{"entity":"event","event":"payment.failed","payload":{"payment":{"entity":{"id":"pay_F","status":"failed","error_code":"BAD_REQUEST_ERROR","error_reason":"payment_risk_check_failed","notes":[]}}},"created_at":` + strconv.FormatInt(now.Unix(), 10) + `}`
	refund := `{"entity":"event","event":"refund.processed","payload":{"refund":{"entity":{"id":"rfnd_1","payment_id":"pay_C","status":"processed","amount":100}}},"created_at":` + strconv.FormatInt(now.Unix(), 10) + `}`
	tests := []struct {
		name       string
		header     http.Header
		body       string
		wantErr    string
		wantStatus gateway.Status
		wantRef    string
		wantPay    string
	}{
		{name: "good", header: webhookHeader(body, webhookSecret, "evt_1"), body: body, wantStatus: gateway.Captured, wantRef: "pay_C", wantPay: "pay_123"},
		{name: "failed", header: webhookHeader(failed, webhookSecret, "evt_2"), body: failed, wantStatus: gateway.Failed, wantRef: "pay_F"},
		{name: "refund", header: webhookHeader(refund, webhookSecret, "evt_3"), body: refund, wantRef: "pay_C"},
		{name: "tampered", header: webhookHeader(body, webhookSecret, "evt_1"), body: body[:len(body)-1] + " }", wantErr: errs.Unauthorized},
		{name: "wrong secret", header: webhookHeader(body, "other", "evt_1"), body: body, wantErr: errs.Unauthorized},
		{name: "signed with the key secret", header: webhookHeader(body, keySecret, "evt_1"), body: body, wantErr: errs.Unauthorized},
		{name: "stale", header: webhookHeader(capturedEvent(now.Add(-72*time.Hour)), webhookSecret, "evt_1"), body: capturedEvent(now.Add(-72 * time.Hour)), wantErr: errs.Unauthorized},
		{name: "unsigned", header: http.Header{"X-Razorpay-Event-Id": {"evt_1"}}, body: body, wantErr: errs.Unauthorized},
		{name: "no event id", header: webhookHeader(body, webhookSecret, ""), body: body, wantErr: errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := g.ParseWebhook(context.Background(), tt.header, []byte(tt.body), now)
			if tt.wantErr != "" {
				if !errors.Is(err, &errs.Error{Code: tt.wantErr}) {
					t.Fatalf("ParseWebhook() = %+v, %v; want %s", ev, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWebhook() = %v", err)
			}
			if ev.Result.Status != tt.wantStatus || ev.Reference != tt.wantRef || ev.PaymentID != tt.wantPay {
				t.Errorf("ParseWebhook() = {Status:%q Ref:%q Pay:%q}; want {%q %q %q}", ev.Result.Status, ev.Reference, ev.PaymentID, tt.wantStatus, tt.wantRef, tt.wantPay)
			}
		})
	}

	// A replayed delivery verifies again with the same event id: the caller
	// de-duplicates on it.
	h := webhookHeader(body, webhookSecret, "evt_1")
	a, err1 := g.ParseWebhook(context.Background(), h, []byte(body), now)
	b, err2 := g.ParseWebhook(context.Background(), h, []byte(body), now.Add(time.Hour))
	if err1 != nil || err2 != nil || a.ID != "evt_1" || b.ID != a.ID {
		t.Errorf("replay: ids %q, %q (errors %v, %v); want evt_1 twice", a.ID, b.ID, err1, err2)
	}
}
