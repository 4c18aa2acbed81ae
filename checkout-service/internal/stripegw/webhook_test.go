package stripegw_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/magefleet/platform/checkout-service/internal/gateway"
	"github.com/magefleet/platform/internal/errs"
)

const succeededEvent = `{"id":"evt_1","object":"event","api_version":"2023-10-16","type":"payment_intent.succeeded",
 "data":{"object":{"id":"pi_1","object":"payment_intent","status":"succeeded","metadata":{"payment_id":"pay_123","attempt":"1"}}}}`

const failedEvent = `{"id":"evt_2","object":"event","api_version":"2020-08-27","type":"payment_intent.payment_failed",
 "data":{"object":{"id":"pi_2","object":"payment_intent","status":"requires_payment_method","metadata":{"payment_id":"pay_9"},
 "last_payment_error":{"type":"card_error","code":"card_declined","decline_code":"lost_card"}}}}`

const refundEvent = `{"id":"evt_3","object":"event","api_version":"2024-06-20","type":"refund.updated",
 "data":{"object":{"id":"re_1","object":"refund","status":"succeeded","payment_intent":"pi_1"}}}`

func signed(tb testing.TB, body, secret string, at time.Time) http.Header {
	tb.Helper()
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: secret, Timestamp: at})
	h := http.Header{}
	h.Set("Stripe-Signature", p.Header)
	return h
}

func TestParseWebhook(t *testing.T) {
	g, _ := newGateway(t, "http://127.0.0.1:1", time.Second)
	now := time.Now()
	tests := []struct {
		name       string
		header     http.Header
		body       string
		wantErr    string
		wantID     string
		wantStatus gateway.Status
		wantRef    string
		wantPay    string
		wantBucket gateway.Bucket
	}{
		{name: "good", header: signed(t, succeededEvent, webhookSecret, now), body: succeededEvent,
			wantID: "evt_1", wantStatus: gateway.Captured, wantRef: "pi_1", wantPay: "pay_123"},
		{name: "other api version, declined", header: signed(t, failedEvent, webhookSecret, now), body: failedEvent,
			wantID: "evt_2", wantStatus: gateway.Failed, wantRef: "pi_2", wantPay: "pay_9", wantBucket: gateway.Hard},
		{name: "refund", header: signed(t, refundEvent, webhookSecret, now), body: refundEvent, wantID: "evt_3", wantRef: "pi_1"},
		{name: "tampered", header: signed(t, succeededEvent, webhookSecret, now), body: succeededEvent[:len(succeededEvent)-2] + " }}", wantErr: errs.Unauthorized},
		{name: "wrong secret", header: signed(t, succeededEvent, "whsec_other", now), body: succeededEvent, wantErr: errs.Unauthorized},
		{name: "stale", header: signed(t, succeededEvent, webhookSecret, now.Add(-10*time.Minute)), body: succeededEvent, wantErr: errs.Unauthorized},
		{name: "from the future", header: signed(t, succeededEvent, webhookSecret, now.Add(10*time.Minute)), body: succeededEvent, wantErr: errs.Unauthorized},
		{name: "unsigned", header: http.Header{}, body: succeededEvent, wantErr: errs.Unauthorized},
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
			if ev.ID != tt.wantID || ev.Reference != tt.wantRef || ev.PaymentID != tt.wantPay || ev.Result.Status != tt.wantStatus {
				t.Errorf("ParseWebhook() = {ID:%q Ref:%q Pay:%q Status:%q}; want {%q %q %q %q}",
					ev.ID, ev.Reference, ev.PaymentID, ev.Result.Status, tt.wantID, tt.wantRef, tt.wantPay, tt.wantStatus)
			}
			if tt.wantBucket != "" && (ev.Result.Decline == nil || ev.Result.Decline.Bucket != tt.wantBucket) {
				t.Errorf("ParseWebhook().Result.Decline = %+v; want bucket %s", ev.Result.Decline, tt.wantBucket)
			}
		})
	}
}

// TestParseWebhookReplay: a replayed delivery verifies again and carries the
// same event id, which is what the caller de-duplicates on.
func TestParseWebhookReplay(t *testing.T) {
	g, _ := newGateway(t, "http://127.0.0.1:1", time.Second)
	now := time.Now()
	h := signed(t, succeededEvent, webhookSecret, now)
	first, err := g.ParseWebhook(context.Background(), h, []byte(succeededEvent), now)
	if err != nil {
		t.Fatal(err)
	}
	second, err := g.ParseWebhook(context.Background(), h, []byte(succeededEvent), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != second.ID {
		t.Errorf("replayed event id = %q; want %q", second.ID, first.ID)
	}
}
